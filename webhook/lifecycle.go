package webhook

import "context"

// Name names the component in readiness reports and metrics.
func (n *Notifier) Name() string { return "webhook.approvals" }

// Start does nothing: New starts the delivery worker. It lets a Notifier be owned like the
// other long-running parts.
func (n *Notifier) Start(context.Context) error { return nil }

// Stop is Close.
func (n *Notifier) Stop(ctx context.Context) error { return n.Close(ctx) }
