package mesh

// CRDPruneDiff is pruneDiff, for the corpus test.
var CRDPruneDiff = pruneDiff
