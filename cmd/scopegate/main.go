// Command scopegate is a gateway between AI clients and model providers: it
// checks scoped API keys, enforces limits and keeps a tamper-evident audit
// log of every decision.
//
// Run "scopegate serve" to start it (with no config file it runs offline on
// the built-in mock upstream), and "scopegate --help" for the other
// commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(1)
	}
}

// env is what every command gets from run: the process's environment and
// streams, passed in so tests can run commands in-process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// hooks lets tests observe and steer a running server; nil in main.
	hooks *testHooks
}

// run executes the command line args (args[0] is the program name) and
// returns when it is done or ctx is cancelled. Errors are printed to stderr
// before they are returned.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runWithHooks(ctx, args, &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
}

func runWithHooks(ctx context.Context, args []string, e *env) error {
	root := newRootCmd(e)
	root.SetArgs(args[1:])
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(e.stderr, "scopegate:", err)
	}
	return err
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "scopegate",
		Short:         "A gateway that checks scoped API keys before every model call",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(e),
		newInitCmd(e),
		newMigrateCmd(e),
		newPrincipalsCmd(e),
		newKeysCmd(e),
		newMockUpstreamCmd(e),
		newExplainCmd(e),
		newConfigCmd(e),
		newAuditCmd(e),
		newUsageCmd(e),
		newAlertsCmd(e),
		newBenchCmd(e),
	)
	return root
}
