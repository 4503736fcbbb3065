package decisionlog

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

func (s *Sink) heldIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for i := range s.n {
		ids = append(ids, s.ring[(s.head+i)%len(s.ring)].ID)
	}
	return ids
}

// TestBufferDropsTheOldest pins the buffer's policy: full, it drops the oldest waiting
// event (as OPA does); events taken by an upload count against the bound and, if the upload
// fails, return in front, in order.
func TestBufferDropsTheOldest(t *testing.T) {
	s, err := New(Config{URL: "http://127.0.0.1:1", BufferEvents: 4})
	if err != nil {
		t.Fatal(err)
	}
	offer := func(from, to int) {
		for i := from; i < to; i++ {
			s.Offer(context.Background(), Decision{ID: fmt.Sprint(i)})
		}
	}
	offer(0, 10)
	if got := s.heldIDs(); !slices.Equal(got, []string{"6", "7", "8", "9"}) {
		t.Fatalf("held %v", got)
	}
	taken := s.take(nil, 2) // an upload holds 6 and 7
	offer(10, 12)           // the bound counts them: 8 and 9 go
	if got := s.heldIDs(); !slices.Equal(got, []string{"10", "11"}) {
		t.Fatalf("held %v", got)
	}
	s.putBack(taken) // the upload failed
	if got := s.heldIDs(); !slices.Equal(got, []string{"6", "7", "10", "11"}) {
		t.Fatalf("held %v", got)
	}
	if st := s.Stats(); st.Dropped != 8 || st.Buffered != 4 {
		t.Fatalf("stats %+v", st)
	}
	all := s.take(nil, 10)
	offer(12, 13) // everything held is in an upload: the newest goes
	if st := s.Stats(); len(all) != 4 || st.Dropped != 9 || st.Buffered != 4 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Stop(context.Background()); err != nil { // never started: nothing to do
		t.Fatal(err)
	}
}
