package fsm

import "testing"

func TestSeqLog_PushAtDropAcrossChunks(t *testing.T) {
	var l seqLog[int]
	const n = 3*chunkLen + 17
	for i := range n {
		l.push(i * 10)
	}
	if l.len() != n || l.end() != n || len(l.chunks) != 4 {
		t.Fatalf("len %d end %d chunks %d", l.len(), l.end(), len(l.chunks))
	}
	for _, step := range []int{0, 5, chunkLen - 5, 1, chunkLen, chunkLen + 3} {
		l.dropFront(step)
		if l.len() > 0 && *l.nth(0) != int(l.base)*10 {
			t.Fatalf("after dropping %d: first %d at base %d", step, *l.nth(0), l.base)
		}
		for seq := l.base; seq < l.end(); seq += 97 {
			if *l.at(seq) != int(seq)*10 {
				t.Fatalf("at(%d) = %d", seq, *l.at(seq))
			}
		}
		if i := l.search(func(v *int) bool { return *v >= 2000*10 }); l.base <= 2000 && uint64(i) != 2000-l.base {
			t.Fatalf("search = %d with base %d", i, l.base)
		}
	}
	if want := (l.head + l.len() + chunkLen - 1) / chunkLen; len(l.chunks) != want {
		t.Fatalf("%d chunks kept for %d entries from %d", len(l.chunks), l.len(), l.head)
	}
	l.dropFront(l.len() + 5) // more than it holds
	if l.len() != 0 || l.chunks != nil || l.base != n {
		t.Fatalf("emptied log: len %d chunks %d base %d", l.len(), len(l.chunks), l.base)
	}
	l.push(7)
	if *l.at(n) != 7 || *l.nth(0) != 7 || cap(l.chunks[0]) >= chunkLen {
		t.Fatal("push after emptying")
	}
}

func TestSeqLog_DropClearsEntries(t *testing.T) {
	var l seqLog[*int]
	for range 10 {
		l.push(new(int))
	}
	c := l.chunks[0]
	l.dropFront(3)
	for i, p := range c[:3] {
		if p != nil {
			t.Fatalf("dropped entry %d still referenced", i)
		}
	}
}
