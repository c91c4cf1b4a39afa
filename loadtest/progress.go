package loadtest

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress redraws one status line about once a second: the phase, its
// messages, the current rate, errors, time elapsed and an ETA. It is only
// started for a terminal; lines end in a carriage return, and stop clears
// the line.
type progress struct {
	w    io.Writer
	r    *runner
	now  func() time.Time
	done chan struct{}
	wg   sync.WaitGroup

	start    time.Time
	lastPh   *phaseRun
	lastN    int64
	lastTime time.Time
	// lastProducing: whether the last line counted 201s (a prefill counts
	// 201s, then acks).
	lastProducing bool
}

func startProgress(w io.Writer, r *runner, now func() time.Time) *progress {
	p := &progress{w: w, r: r, now: now, done: make(chan struct{}), start: now()}
	p.wg.Go(func() {
		t := time.NewTicker(time.Second) // a display refresh, not synchronisation
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				fmt.Fprintf(p.w, "\r%s\x1b[K", p.line())
			}
		}
	})
	return p
}

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
	fmt.Fprint(p.w, "\r\x1b[K")
}

// line renders the status of the current phase.
func (p *progress) line() string {
	ph := p.r.current.Load()
	now := p.now()
	elapsed := now.Sub(p.start)
	if ph == nil {
		return fmt.Sprintf("setting up  elapsed %s", clock(elapsed))
	}
	// The phase's main count: 201s for produce, acks otherwise.
	producing := ph.spec.Kind == KindProduce || (ph.spec.Kind == KindPrefill && !ph.draining.Load())
	n := ph.acked.Load()
	if producing {
		n = ph.produced.Load()
	}
	if ph != p.lastPh {
		p.lastPh, p.lastN, p.lastTime, p.lastProducing = ph, 0, ph.start, producing
	} else if producing != p.lastProducing {
		p.lastN, p.lastTime, p.lastProducing = 0, now, producing
	}
	var r float64
	if d := now.Sub(p.lastTime).Seconds(); d > 0 {
		r = float64(n-p.lastN) / d
	}
	p.lastN, p.lastTime = n, now

	plan := p.r.cfg.Plan()
	eta := time.Duration(-1)
	switch kind := ph.spec.Kind; {
	case producing:
		if r > 0 {
			eta = time.Duration(float64(int64(ph.spec.Messages)-n) / r * float64(time.Second))
		}
	case kind == KindMixed:
		eta = max(0, ph.deadline.Sub(now))
	case kind == KindDrain || kind == KindPrefill:
		if out, _ := p.r.ledger.Outstanding(); r > 0 {
			eta = time.Duration(float64(out) / r * float64(time.Second))
		}
	}
	etaText := "?"
	if eta >= 0 {
		// Later phases: the durations of mixed phases; a later produce
		// phase's time is unknown yet, so the ETA is then a lower bound.
		more := ""
		for _, s := range plan[ph.index+1:] {
			switch s.Kind {
			case KindMixed:
				eta += s.Duration
			case KindProduce, KindPrefill:
				more = "+"
			}
		}
		etaText = clock(eta) + more
	}
	what := "acked"
	if producing {
		what = "produced"
	}
	return fmt.Sprintf("[%d/%d] %s  %s %d  %.0f msg/s  errors %d  elapsed %s  ETA %s",
		ph.index+1, len(plan), ph.spec.describe(), what, n, r, ph.errs.total.Load(), clock(elapsed), etaText)
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d/time.Minute), int(d%time.Minute/time.Second))
}
