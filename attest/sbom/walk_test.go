package sbom

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// readahead must hand out exactly the source's bytes, whatever mix of
// reads and forward seeks archive/tar makes, and then the source's error.
func TestReadahead(t *testing.T) {
	src := make([]byte, 3*raBufSize+12345)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		ra := newReadahead(iotest.HalfReader(bytes.NewReader(src)))
		var got []byte
		pos := int64(0)
		for {
			if rng.IntN(3) == 0 {
				skip := int64(rng.IntN(raBufSize))
				p, err := ra.Seek(skip, io.SeekCurrent)
				if err != nil {
					t.Fatal(err)
				}
				want := min(pos+skip, int64(len(src)))
				if p != want {
					t.Fatalf("seed %d: Seek to %d, want %d", seed, p, want)
				}
				got = append(got, src[pos:p]...)
				pos = p
				continue
			}
			buf := make([]byte, 1+rng.IntN(100000))
			n, err := ra.Read(buf)
			got = append(got, buf[:n]...)
			pos += int64(n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		ra.Stop()
		ra.Wait()
		if !bytes.Equal(got, src) {
			t.Fatalf("seed %d: read %d bytes that differ from the source", seed, len(got))
		}
	}
	if _, err := newReadahead(bytes.NewReader(nil)).Seek(-1, io.SeekCurrent); err == nil {
		t.Error("backward seek accepted")
	}
}

// Stopping a readahead whose source blocks must not hang once the source
// is closed, and a chained reader sees the stop as an error.
func TestReadaheadStop(t *testing.T) {
	pr, pw := io.Pipe()
	inner := newReadahead(pr)
	outer := newReadahead(inner)
	pw.Write(make([]byte, 100))
	inner.Stop()
	outer.Stop()
	pr.CloseWithError(errors.New("closed"))
	inner.Wait()
	outer.Wait()
	if _, err := io.ReadAll(outer); err == nil {
		t.Error("stopped readahead read to a clean EOF")
	}
}
