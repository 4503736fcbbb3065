package audit

// Masked replaces the value of a masked argument.
const Masked = "[masked]"

// mask returns args with the named top-level fields masked, copying only if one is present.
func mask(args map[string]any, fields []string) map[string]any {
	var out map[string]any
	for _, f := range fields {
		if _, ok := args[f]; !ok {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(args))
			for k, v := range args {
				out[k] = v
			}
		}
		out[f] = Masked
	}
	if out == nil {
		return args
	}
	return out
}
