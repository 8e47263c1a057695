package actionharness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// scalar is a YAML scalar kept as the runner sees it: a string (`cache:
// false` is the string "false").
type scalar string

func (s *scalar) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a scalar, got a %s", n.Line, kindName(n.Kind))
	}
	*s = scalar(n.Value)
	return nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	}
	return "scalar"
}

// Step is one step of a composite action or a workflow job.
type Step struct {
	ID               string            `yaml:"id"`
	Name             string            `yaml:"name"`
	If               scalar            `yaml:"if"`
	Uses             string            `yaml:"uses"`
	With             map[string]scalar `yaml:"with"`
	Run              string            `yaml:"run"`
	Shell            string            `yaml:"shell"`
	Env              map[string]scalar `yaml:"env"`
	WorkingDirectory string            `yaml:"working-directory"`
	ContinueOnError  scalar            `yaml:"continue-on-error"`
	TimeoutMinutes   scalar            `yaml:"timeout-minutes"`
}

func (s *Step) label() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Uses != "":
		return s.Uses
	}
	first, _, _ := strings.Cut(strings.TrimSpace(s.Run), "\n")
	return first
}

// Input is an action or workflow input.
type Input struct {
	Description        string   `yaml:"description"`
	Required           bool     `yaml:"required"`
	Default            *scalar  `yaml:"default"`
	Type               string   `yaml:"type"`
	Options            []string `yaml:"options"`
	DeprecationMessage string   `yaml:"deprecationMessage"`
}

// Output is an action output or a workflow_call output.
type Output struct {
	Description string `yaml:"description"`
	Value       string `yaml:"value"`
}

// Action is an action.yml.
type Action struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Author      string            `yaml:"author"`
	Branding    yaml.Node         `yaml:"branding"`
	Inputs      map[string]Input  `yaml:"inputs"`
	Outputs     map[string]Output `yaml:"outputs"`
	Runs        struct {
		Using string  `yaml:"using"`
		Steps []*Step `yaml:"steps"`
	} `yaml:"runs"`

	// Dir is the directory holding the action (github.action_path).
	Dir string `yaml:"-"`
}

// LoadAction reads and checks DIR/action.yml (or action.yaml). Only
// composite actions can be run.
func LoadAction(dir string) (*Action, error) {
	var path string
	var data []byte
	for _, name := range []string{"action.yml", "action.yaml"} {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err == nil {
			path, data = p, b
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if path == "" {
		return nil, fmt.Errorf("no action.yml in %s", dir)
	}
	var a Action
	if err := decodeStrict(data, &a); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	a.Dir = abs
	if a.Runs.Using != "composite" {
		return nil, fmt.Errorf("%s: runs.using is %q; the harness runs only composite actions", path, a.Runs.Using)
	}
	for i, s := range a.Runs.Steps {
		if err := checkStep(s, true); err != nil {
			return nil, fmt.Errorf("%s: step %d (%s): %w", path, i+1, s.label(), err)
		}
	}
	if err := checkIDs(a.Runs.Steps); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &a, nil
}

// Workflow is a workflow file.
type Workflow struct {
	Name        string            `yaml:"name"`
	RunName     string            `yaml:"run-name"`
	On          yaml.Node         `yaml:"on"`
	Permissions yaml.Node         `yaml:"permissions"`
	Env         map[string]scalar `yaml:"env"`
	Defaults    *Defaults         `yaml:"defaults"`
	Concurrency yaml.Node         `yaml:"concurrency"`
	Jobs        map[string]*Job   `yaml:"jobs"`

	// Path is the file the workflow was read from.
	Path string `yaml:"-"`
	// Triggers are the events of `on:` with their configuration.
	Triggers map[string]*Trigger `yaml:"-"`
}

// Trigger is one event of `on:`; Inputs, Secrets and Outputs are set for
// workflow_call and workflow_dispatch.
type Trigger struct {
	Inputs  map[string]Input  `yaml:"inputs"`
	Secrets map[string]Input  `yaml:"secrets"`
	Outputs map[string]Output `yaml:"outputs"`
}

// Defaults is `defaults:` of a workflow or job.
type Defaults struct {
	Run struct {
		Shell            string `yaml:"shell"`
		WorkingDirectory string `yaml:"working-directory"`
	} `yaml:"run"`
}

// Job is one job of a workflow. Fields the harness does not act on are
// kept as nodes so the file still parses strictly.
type Job struct {
	Name            string            `yaml:"name"`
	RunsOn          yaml.Node         `yaml:"runs-on"`
	Needs           yaml.Node         `yaml:"needs"`
	If              scalar            `yaml:"if"`
	Permissions     yaml.Node         `yaml:"permissions"`
	Environment     yaml.Node         `yaml:"environment"`
	Concurrency     yaml.Node         `yaml:"concurrency"`
	Outputs         map[string]string `yaml:"outputs"`
	Env             map[string]scalar `yaml:"env"`
	Defaults        *Defaults         `yaml:"defaults"`
	Steps           []*Step           `yaml:"steps"`
	TimeoutMinutes  scalar            `yaml:"timeout-minutes"`
	Strategy        yaml.Node         `yaml:"strategy"`
	ContinueOnError scalar            `yaml:"continue-on-error"`
	Container       yaml.Node         `yaml:"container"`
	Services        yaml.Node         `yaml:"services"`
	Uses            string            `yaml:"uses"`
	With            map[string]scalar `yaml:"with"`
	Secrets         yaml.Node         `yaml:"secrets"`
}

// NeedsList returns the job ids of needs:.
func (j *Job) NeedsList() []string {
	switch j.Needs.Kind {
	case yaml.ScalarNode:
		return []string{j.Needs.Value}
	case yaml.SequenceNode:
		var out []string
		for _, n := range j.Needs.Content {
			out = append(out, n.Value)
		}
		return out
	}
	return nil
}

// LoadWorkflow reads and checks a workflow file.
func LoadWorkflow(path string) (*Workflow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w Workflow
	if err := decodeStrict(data, &w); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	w.Path = path
	if w.Triggers, err = parseOn(&w.On); err != nil {
		return nil, fmt.Errorf("%s: on: %w", path, err)
	}
	ids := make([]string, 0, len(w.Jobs))
	for id := range w.Jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		j := w.Jobs[id]
		if j.Uses != "" {
			continue
		}
		for i, s := range j.Steps {
			if err := checkStep(s, false); err != nil {
				return nil, fmt.Errorf("%s: job %s step %d (%s): %w", path, id, i+1, s.label(), err)
			}
		}
		if err := checkIDs(j.Steps); err != nil {
			return nil, fmt.Errorf("%s: job %s: %w", path, id, err)
		}
	}
	return &w, nil
}

func parseOn(n *yaml.Node) (map[string]*Trigger, error) {
	out := map[string]*Trigger{}
	switch n.Kind {
	case 0:
		return nil, errors.New("missing")
	case yaml.ScalarNode:
		out[n.Value] = &Trigger{}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			out[e.Value] = &Trigger{}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			name, v := n.Content[i].Value, n.Content[i+1]
			t := &Trigger{}
			if name == "workflow_call" || name == "workflow_dispatch" {
				if v.Kind == yaml.MappingNode {
					var b bytes.Buffer
					enc := yaml.NewEncoder(&b)
					if err := enc.Encode(v); err != nil {
						return nil, err
					}
					if err := decodeStrict(b.Bytes(), t); err != nil {
						return nil, fmt.Errorf("%s: %w", name, err)
					}
				}
			}
			out[name] = t
		}
	}
	return out, nil
}

func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// checkStep rejects what the runner would reject and what this repository
// forbids: `${{ }}` inside run: (script injection; pass values through env:).
func checkStep(s *Step, composite bool) error {
	switch {
	case s.Uses == "" && s.Run == "":
		return errors.New("neither uses: nor run:")
	case s.Uses != "" && s.Run != "":
		return errors.New("both uses: and run:")
	case s.Run != "" && composite && s.Shell == "":
		return errors.New("a composite action's run: step needs shell:")
	case s.Uses != "" && (s.Shell != "" || s.WorkingDirectory != ""):
		return errors.New("shell: and working-directory: apply only to run: steps")
	case s.Run != "" && len(s.With) > 0:
		return errors.New("with: applies only to uses: steps")
	case strings.Contains(s.Run, "${{"):
		return errors.New("run: contains ${{ }}; pass values through env: instead (script injection)")
	}
	return nil
}

func checkIDs(steps []*Step) error {
	seen := map[string]bool{}
	for _, s := range steps {
		if s.ID == "" {
			continue
		}
		if !isIdentStart(s.ID[0]) {
			return fmt.Errorf("step id %q must start with a letter or _", s.ID)
		}
		for i := range len(s.ID) {
			if !isIdentChar(s.ID[i]) {
				return fmt.Errorf("step id %q has an invalid character", s.ID)
			}
		}
		if seen[strings.ToLower(s.ID)] {
			return fmt.Errorf("step id %q is used twice", s.ID)
		}
		seen[strings.ToLower(s.ID)] = true
	}
	return nil
}
