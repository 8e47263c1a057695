package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/imgsign/imgsign/internal/errkind"
)

// completionFlag is the argument urfave/cli's shell completion appends to
// ask the binary itself what may follow: commands, subcommands, flags.
const completionFlag = "--generate-bash-completion"

// The bash and zsh scripts are urfave/cli's (autocomplete/ in its module),
// with the program name fixed and bash working without the bash-completion
// package: they ask imgsign at each TAB, so completion always matches the
// binary installed.
const bashCompletion = `# bash completion for imgsign: source it, or put it in
# /etc/bash_completion.d/imgsign or ~/.local/share/bash-completion/completions/imgsign
# Without the bash-completion package (macOS's bash 3, minimal images) the
# words are taken as bash split them.
_imgsign_init_completion() {
  COMPREPLY=()
  if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
    _get_comp_words_by_ref "$@" cur prev words cword
  else
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    cur="${COMP_WORDS[COMP_CWORD]}"
  fi
}

_imgsign_bash_autocomplete() {
  if [[ "${COMP_WORDS[0]}" != "source" ]]; then
    local cur opts base words cword requestComp
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    if declare -F _init_completion >/dev/null 2>&1; then
      _init_completion -n "=:" || return
    else
      _imgsign_init_completion -n "=:" || return
    fi
    words=("${words[@]:0:$cword}")
    if [[ "$cur" == "-"* ]]; then
      requestComp="${words[*]} ${cur} ` + completionFlag + `"
    else
      requestComp="${words[*]} ` + completionFlag + `"
    fi
    opts=$(eval "${requestComp}" 2>/dev/null)
    COMPREPLY=($(compgen -W "${opts}" -- ${cur}))
    return 0
  fi
}

complete -o bashdefault -o default -o nospace -F _imgsign_bash_autocomplete imgsign
`

const zshCompletion = `#compdef imgsign
# zsh completion for imgsign: put it in a directory on $fpath as _imgsign,
# or source it after compinit.

_imgsign() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} ` + completionFlag + `)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ` + completionFlag + `)}")
  fi

  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}

# Autoloaded from $fpath this file is the body of _imgsign: complete now.
# Sourced: register the function.
if [ "$funcstack[1]" = "_imgsign" ]; then
  _imgsign "$@"
else
  compdef _imgsign imgsign
fi
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "SHELL",
		Description: `bash:  source <(imgsign completion bash)
       or: imgsign completion bash > ~/.local/share/bash-completion/completions/imgsign
zsh:   imgsign completion zsh > "${fpath[1]}/_imgsign"   (then restart zsh)
fish:  imgsign completion fish > ~/.config/fish/completions/imgsign.fish

bash and zsh ask imgsign itself what may follow at each TAB; fish's script
lists the commands and flags of this version of imgsign.`,
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "SHELL (bash, zsh or fish)"); err != nil {
				return err
			}
			var script string
			switch sh := c.Args().First(); sh {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("generating the fish completion: %w", err)
				}
				script = s
			default:
				return errkind.Inputf("completion: unknown shell %q: use bash, zsh or fish", sh)
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

func manCommand() *cli.Command {
	return &cli.Command{
		Name:  "man",
		Usage: "print imgsign's man page (roff), generated from its commands: imgsign man | man -l -",
		Action: func(c *cli.Context) error {
			page, err := manPage(c.App)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, page)
			return err
		},
	}
}

// manPage renders the man page, section 1, from the CLI definitions.
func manPage(app *cli.App) (string, error) {
	page, err := app.ToManWithSection(1)
	if err != nil {
		return "", fmt.Errorf("generating the man page: %w", err)
	}
	return page, nil
}

// completeLeaf completes a command without subcommands: its flags once a
// "-" is typed, else nothing, so that the shell completes file names
// (policies, keys) instead of offering urfave/cli's "help".
func completeLeaf(cmd *cli.Command) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		// urfave/cli reads the word being completed from os.Args too.
		if len(os.Args) > 2 && strings.HasPrefix(os.Args[len(os.Args)-2], "-") {
			cli.DefaultCompleteWithFlags(cmd)(c)
		}
	}
}

// isCompletionRequest reports whether args ask for shell completions.
func isCompletionRequest(args []string) bool {
	return len(args) > 1 && args[len(args)-1] == completionFlag && !strings.Contains(strings.Join(args, " "), " -- ")
}
