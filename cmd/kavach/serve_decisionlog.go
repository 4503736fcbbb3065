package main

import "github.com/spf13/pflag"

// decisionLogConfig configures the OPA-shaped decision-log export.
type decisionLogConfig struct{}

var decisionLogFlags = []serveFlag{}

func bindDecisionLogFlags(fs *pflag.FlagSet, c *decisionLogConfig) {}
