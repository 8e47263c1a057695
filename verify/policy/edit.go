package policy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/imgsign/imgsign/internal/atomicfile"
	"github.com/imgsign/imgsign/internal/errkind"
	"github.com/imgsign/imgsign/internal/textdiff"
)

// Document is a policy file held as YAML nodes, for the edits `keys rotate`
// and `keys revoke` make: comments, key order and styles are kept, and only
// the touched entries change.
type Document struct {
	Path string
	root *yaml.Node
	// Original is the file as read, to diff against.
	Original []byte
}

// OpenDocument reads a policy for editing. It must already load cleanly:
// editing a broken policy would hide its problems behind the edit.
func OpenDocument(path string) (*Document, error) {
	if _, err := Load(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errkind.Inputf("reading %s: %w", path, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, errkind.Inputf("%s: %w", path, err)
	}
	return &Document{Path: path, root: &root, Original: data}, nil
}

func (d *Document) top() *yaml.Node { return d.root.Content[0] }

func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// mapSet sets key to a scalar value, appending the key if it is new.
func mapSet(m *yaml.Node, key, value string) {
	if v := mapGet(m, key); v != nil {
		v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, "", value, 0
		return
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Value: value})
}

func (d *Document) keyEntry(name string) (*yaml.Node, int, error) {
	keys := mapGet(d.top(), "keys")
	if keys != nil {
		for i, k := range keys.Content {
			if n := mapGet(k, "name"); n != nil && n.Value == name {
				return k, i, nil
			}
		}
	}
	return nil, 0, errkind.Inputf("%s has no key named %q", d.Path, name)
}

// HasKey reports whether the policy defines a key with this name.
func (d *Document) HasKey(name string) bool {
	_, _, err := d.keyEntry(name)
	return err == nil
}

// SetKeyTime sets validFrom, validUntil or revokedAt of a key.
func (d *Document) SetKeyTime(name, field string, t time.Time) error {
	k, _, err := d.keyEntry(name)
	if err != nil {
		return err
	}
	mapSet(k, field, t.UTC().Format(time.RFC3339))
	return nil
}

// KeyTime returns a key's validFrom, validUntil or revokedAt, if set.
func (d *Document) KeyTime(name, field string) (time.Time, bool) {
	k, _, err := d.keyEntry(name)
	if err != nil {
		return time.Time{}, false
	}
	v := mapGet(k, field)
	if v == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v.Value)
	return t, err == nil
}

// AddKeyAfter inserts a key entry right after the key named after.
func (d *Document) AddKeyAfter(after, name, publicKey string, validFrom time.Time) error {
	if d.HasKey(name) {
		return errkind.Inputf("%s already has a key named %q: choose another --new-name", d.Path, name)
	}
	_, i, err := d.keyEntry(after)
	if err != nil {
		return err
	}
	keys := mapGet(d.top(), "keys")
	entry := &yaml.Node{Kind: yaml.MappingNode}
	mapSet(entry, "name", name)
	mapSet(entry, "publicKey", publicKey)
	mapSet(entry, "validFrom", validFrom.UTC().Format(time.RFC3339))
	keys.Content = append(keys.Content[:i+1], append([]*yaml.Node{entry}, keys.Content[i+1:]...)...)
	return nil
}

// AddKeyToRules lists newName right after oldName wherever a rule lists
// oldName (signatures, attestations, compliance), so either key satisfies the
// rule during the overlap. It returns the rules it changed.
func (d *Document) AddKeyToRules(oldName, newName string) []string {
	var changed []string
	rules := mapGet(d.top(), "policies")
	if rules == nil {
		return nil
	}
	addTo := func(list *yaml.Node) bool {
		if list == nil || list.Kind != yaml.SequenceNode {
			return false
		}
		for i, it := range list.Content {
			if it.Value == newName {
				return false
			}
			if it.Value == oldName {
				n := &yaml.Node{Kind: yaml.ScalarNode, Value: newName}
				list.Content = append(list.Content[:i+1], append([]*yaml.Node{n}, list.Content[i+1:]...)...)
				return true
			}
		}
		return false
	}
	for _, r := range rules.Content {
		name := ""
		if n := mapGet(r, "name"); n != nil {
			name = n.Value
		}
		did := addTo(mapGet(mapGet(r, "signatures"), "keys"))
		if atts := mapGet(r, "attestations"); atts != nil {
			for _, a := range atts.Content {
				did = addTo(mapGet(a, "keys")) || did
			}
		}
		did = addTo(mapGet(mapGet(r, "compliance"), "keys")) || did
		if did {
			changed = append(changed, name)
		}
	}
	return changed
}

// Bytes encodes the edited document.
func (d *Document) Bytes() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(d.root); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", d.Path, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write checks that the edited policy still loads and writes it in place,
// atomically and keeping the file's mode; with dryRun it writes nothing. It
// returns the unified diff of the edit, also when writing then fails. A dry
// run shows the diff even of an edit that would not load, since showing
// what would change is all it is for.
func (d *Document) Write(dryRun bool) (diff string, err error) {
	out, err := d.Bytes()
	if err != nil {
		return "", err
	}
	if _, err := Parse(out, filepath.Dir(d.Path)); err != nil {
		if !dryRun {
			return "", fmt.Errorf("the edited policy would not load (nothing written): %w", err)
		}
	}
	diff = textdiff.Unified(d.Path, d.Path, string(d.Original), string(out))
	if dryRun {
		return diff, nil
	}
	fi, err := os.Stat(d.Path)
	if err != nil {
		return diff, errkind.Inputf("%s: %w", d.Path, err)
	}
	return diff, atomicfile.Write(d.Path, out, fi.Mode().Perm())
}
