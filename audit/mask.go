package audit

import "github.com/kavachos/kavach-go/agent"

// Masked replaces the value of a masked argument.
const Masked = "[masked]"

// mask returns args with the named top-level fields masked, copying only if one is present.
func mask(args map[string]any, fields []string) map[string]any {
	out, _ := agent.MaskArguments(args, fields, Masked)
	return out
}
