// Command switchboard is the single Switchboard binary: it serves the
// tracking API and pipelines, validates configuration, and talks to a running
// server's admin API.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if code, ok := err.(exitError); ok {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "switchboard:", err)
		os.Exit(1)
	}
}
