package ocilayout

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type hasher struct{ hash.Hash }

func newHasher() *hasher { return &hasher{sha256.New()} }

func (h *hasher) digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}
