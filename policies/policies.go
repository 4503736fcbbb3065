// Package policies embeds Kavach's Rego policies (package kavach.*). The engine loads them
// first; custom rules and bundles come after.
package policies

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed *.rego
var files embed.FS

// Modules returns the embedded modules by file name, in name order.
func Modules() ([]Module, error) {
	names, err := fs.Glob(files, "*.rego")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Module, 0, len(names))
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Module{Name: "policies/" + n, Source: string(b)})
	}
	return out, nil
}

// Module is one Rego source file.
type Module struct {
	Name   string
	Source string
}
