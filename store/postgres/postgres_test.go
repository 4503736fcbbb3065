package postgres_test

import (
	"context"
	"testing"

	"github.com/kavachos/kavach-go/store"
	"github.com/kavachos/kavach-go/store/postgres"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
	"github.com/kavachos/kavach-go/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, storetest.WithSecond(openSecond))
}
