package decisionlog_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/decisionlog"
)

// BenchmarkOffer is what the export adds to a decision: Offer into a started sink whose
// buffer is full (so that each offer also drops the oldest, its dearest path), with the
// caller's span context to read.
func BenchmarkOffer(b *testing.B) {
	s, err := decisionlog.New(decisionlog.Config{URL: "http://127.0.0.1:1", BufferEvents: 1024, FlushInterval: time.Hour,
		MinRetryDelay: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	s.Start(context.Background())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		s.Stop(ctx)
	}()
	ctx, _ := spanContext(nil)
	d := decision(1)
	for range 2048 {
		s.Offer(ctx, d)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.Offer(ctx, d)
	}
}

// BenchmarkOfferParallel is Offer from many goroutines at once: they share one lock.
func BenchmarkOfferParallel(b *testing.B) {
	s, err := decisionlog.New(decisionlog.Config{URL: "http://127.0.0.1:1", BufferEvents: 1024, FlushInterval: time.Hour,
		MinRetryDelay: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	s.Start(context.Background())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		s.Stop(ctx)
	}()
	ctx, _ := spanContext(nil)
	d := decision(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Offer(ctx, d)
		}
	})
}
