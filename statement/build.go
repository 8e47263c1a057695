package statement

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/imgsign/imgsign/internal/errkind"
)

// About builds an in-toto Statement v1 about one manifest of repo, with the
// annotations on its subject.
func About(repo name.Repository, digest v1.Hash, predicateType string, predicate any, annotations map[string]string) ([]byte, error) {
	return AboutAll(repo, []v1.Hash{digest}, predicateType, predicate, annotations)
}

// AboutAll builds an in-toto Statement v1 with one subject per digest, each
// named repo and carrying the annotations. Verification counts a statement
// only about an image it names alone, so imgsign signs with About; AboutAll
// writes what other tools do (BuildKit names several manifests in one
// statement), which tests need to prove such statements count for none.
func AboutAll(repo name.Repository, digests []v1.Hash, predicateType string, predicate any, annotations map[string]string) ([]byte, error) {
	pb, err := toStruct(predicate)
	if err != nil {
		return nil, errkind.Inputf("predicate for %s: %w", predicateType, err)
	}
	var ann *structpb.Struct
	if len(annotations) > 0 {
		m := make(map[string]any, len(annotations))
		keys := make([]string, 0, len(annotations))
		for k := range annotations {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m[k] = annotations[k]
		}
		ann, err = structpb.NewStruct(m)
		if err != nil {
			return nil, errkind.Inputf("annotations: %w", err)
		}
	}
	var subjects []*intoto.ResourceDescriptor
	for _, d := range digests {
		subjects = append(subjects, &intoto.ResourceDescriptor{
			Name:        repo.Name(),
			Digest:      map[string]string{d.Algorithm: d.Hex},
			Annotations: ann,
		})
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       subjects,
		PredicateType: predicateType,
		Predicate:     pb,
	}
	if err := st.Validate(); err != nil {
		return nil, errkind.Inputf("statement: %w", err)
	}
	return protojson.Marshal(st)
}

func toStruct(v any) (*structpb.Struct, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("predicate must be a JSON object: %w", err)
	}
	return s, nil
}
