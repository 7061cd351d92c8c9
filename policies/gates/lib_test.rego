package promote.gates.lib_test

import data.promote.gates.lib

test_duration if {
	lib.duration(0) == "0s"
	lib.duration(59) == "59s"
	lib.duration(1800) == "30m"
	lib.duration(3723) == "1h2m3s"
	lib.duration(7200) == "2h"
}
