package cli

import "github.com/spf13/cobra"

// commands lists the subcommand constructors, in help order.
var commands = []func(*env) *cobra.Command{
	newBenchCmd,
	newBenchFleetCmd,
	newBenchWorkerCmd,
	newBenchMemoryCmd,
	newWorkerCmd,
	newSchedulerCmd,
	withAPI(newSubmitCmd),
	withAPI(newJobCmd),
	newQueueCmd,
	newScheduleCmd,
	withAPI(newSessionCmd),
	newServeCmd,
	newUserCmd,
	newDevCmd,
	newDemoCmd,
	newHealthCmd,
}
