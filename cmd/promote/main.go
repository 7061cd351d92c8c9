// Command promote promotes a repository's services across environments
// through GitHub; see the README.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/promote-dev/promote/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := (&cli.Command{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}).Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
