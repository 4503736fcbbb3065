package agent

// MaskArguments returns args with the named top-level arguments replaced by with, or
// removed when with is nil, and the names it found. It copies args only if one of them is
// present, and never changes args itself.
func MaskArguments(args map[string]any, names []string, with any) (map[string]any, []string) {
	var (
		out   map[string]any
		found []string
	)
	for _, name := range names {
		if _, ok := args[name]; !ok {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(args))
			for k, v := range args {
				out[k] = v
			}
		}
		if with == nil {
			delete(out, name)
		} else {
			out[name] = with
		}
		found = append(found, name)
	}
	if out == nil {
		return args, nil
	}
	return out, found
}
