package cli

import "github.com/spf13/cobra"

// commands lists the subcommand constructors, in help order.
var commands = []func(*env) *cobra.Command{
	newBenchCmd,
	newWorkerCmd,
	newSchedulerCmd,
	newSubmitCmd,
	newJobCmd,
	newSessionCmd,
	newServeCmd,
	newUserCmd,
	newDevCmd,
	newDemoCmd,
}
