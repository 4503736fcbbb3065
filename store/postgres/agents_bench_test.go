package postgres_test

import (
	"testing"

	"github.com/kavachos/kavach-go/store/storetest"
)

// BenchmarkAllAgents streams the benchmark data set out of a Postgres on loopback.
//
//	go test ./store/postgres -run '^$' -bench AllAgents -benchtime 3x
func BenchmarkAllAgents(b *testing.B) { storetest.BenchmarkAllAgents(b, open) }

// BenchmarkTokenLookup finds agents by token hash in a Postgres on loopback.
//
//	go test ./store/postgres -run '^$' -bench TokenLookup
func BenchmarkTokenLookup(b *testing.B) { storetest.BenchmarkTokenLookup(b, open) }
