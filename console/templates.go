package console

import (
	"html/template"
	"strings"
	"time"
)

var pageNames = []string{"login", "error", "approvals", "agents", "agent", "audit"}

var funcs = template.FuncMap{
	"join": strings.Join,
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"timep": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"prefix": func() string { return Prefix },
	"list":   func(s ...string) []string { return s },
	"tree": func(names map[string]string, nodes []delegationNode) treeLevel {
		return treeLevel{Names: names, Nodes: nodes}
	},
}

// parsePages parses each page with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// treeLevel is one level of the delegation tree with the names to show.
type treeLevel struct {
	Names map[string]string
	Nodes []delegationNode
}
