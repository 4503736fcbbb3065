package sqlite_test

import (
	"testing"

	"github.com/kavachos/kavach-go/store/storetest"
)

// BenchmarkAllAgents streams the benchmark data set out of a SQLite file.
//
//	go test ./store/sqlite -run '^$' -bench AllAgents -benchtime 3x
func BenchmarkAllAgents(b *testing.B) { storetest.BenchmarkAllAgents(b, open) }

// BenchmarkTokenLookup finds agents by token hash in a SQLite file.
//
//	go test ./store/sqlite -run '^$' -bench TokenLookup
func BenchmarkTokenLookup(b *testing.B) { storetest.BenchmarkTokenLookup(b, open) }
