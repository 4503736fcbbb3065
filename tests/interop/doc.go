// Package interop holds tests in which clients that Kavach's authors did not write talk to
// the real HTTP service, as `kavach serve` mounts it, over loopback. It is a module of its own so that their
// dependencies stay out of Kavach's.
package interop
