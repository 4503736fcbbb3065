package latency

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time the process has used so far, user and system, every thread
// included (the garbage collector's too). Benchmarks report it per operation next to the
// wall time: on a machine shared with other work, wall time grows with the contention and
// CPU time does not.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
