// Command sessionq runs sessionq's workers, scheduler, dev stack and demo,
// and submits and inspects jobs and sessions. Run `sessionq --help`.
package main

import (
	"fmt"
	"os"

	"github.com/sessionq/sessionq/cmd/sessionq/cli"
)

func main() {
	if err := cli.NewRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "sessionq:", err)
		os.Exit(1)
	}
}
