package console

import (
	"html/template"
	"strings"
	"time"

	"github.com/kavachos/kavach-go/agent"
)

var pageNames = []string{"login", "error", "approvals", "agents", "agent", "audit", "event", "confirm"}

var funcs = template.FuncMap{
	"join":   strings.Join,
	"when":   when,
	"whenp":  whenp,
	"dur":    func(d agent.Duration) string { return duration(d.D()) },
	"ns":     func(n int64) string { return time.Duration(n).String() },
	"args":   argumentsText,
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
