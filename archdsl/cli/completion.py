"""`archdsl completion bash|zsh`: a shell completion script, written from the command line's own parsers
(commands, their options, the choices of options and arguments) so that it cannot fall behind them.

Files complete as `.arch` files, folders and the bundled networks' names. Install:
    bash: archdsl completion bash > ~/.local/share/bash-completion/completions/archdsl
    zsh:  echo 'source <(archdsl completion zsh)' >> ~/.zshrc   (after compinit)
"""

from __future__ import annotations

import argparse
import shlex

from archdsl.resources import bundled_names

FILE_ARGUMENTS = {"file", "files", "a", "b"}  # positionals that name networks: files or bundled names


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _words(items) -> str:
    return shlex.quote(" ".join(items))


def bash_script(parser: argparse.ArgumentParser) -> str:
    commands = _subcommands(parser)
    options_cases, value_cases, positional_cases = [], [], []
    for name, sub in commands.items():
        flags = [flag for action in sub._actions for flag in action.option_strings]
        options_cases.append(f"        {name}) opts={_words(flags)} ;;")
        for action in sub._actions:
            if action.option_strings and action.choices:
                for flag in action.option_strings:
                    value_cases.append(f"        '{name} {flag}') values={_words(map(str, action.choices))} ;;")
            elif action.option_strings and action.nargs != 0:
                for flag in action.option_strings:
                    value_cases.append(f"        '{name} {flag}') values=__files__ ;;")
        positionals = [a for a in sub._actions if not a.option_strings and a.dest != "help"]
        if positionals and any(a.dest in FILE_ARGUMENTS for a in positionals):
            positional_cases.append(f"        {name}) values=__networks__ ;;")
        elif positionals and positionals[0].choices:
            positional_cases.append(f"        {name}) values={_words(map(str, positionals[0].choices))} ;;")
        else:
            positional_cases.append(f"        {name}) values= ;;")
    nl = "\n"
    return f"""# archdsl's completion for bash, written by `archdsl completion bash`.
_archdsl() {{
    local cur prev cmd word opts values i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev=""
    (( COMP_CWORD > 0 )) && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    cmd=""
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word="${{COMP_WORDS[i]}}"
        case "$word" in -*) ;; *) cmd="$word"; break ;; esac
    done
    COMPREPLY=()
    if [[ -z "$cmd" ]]; then
        COMPREPLY=( $(compgen -W {_words([*commands, "--help", "--version"])} -- "$cur") )
        return 0
    fi
    values=""
    case "$cmd $prev" in
{nl.join(value_cases)}
    esac
    if [[ -z "$values" ]]; then
        if [[ "$cur" == -* ]]; then
            opts=""
            case "$cmd" in
{nl.join(options_cases)}
            esac
            COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
            return 0
        fi
        case "$cmd" in
{nl.join(positional_cases)}
        esac
    fi
    if [[ "$values" == __networks__ ]]; then
        COMPREPLY=( $(compgen -f -X '!*.arch' -- "$cur") $(compgen -d -- "$cur") \\
                    $(compgen -W {_words(bundled_names())} -- "$cur") )
    elif [[ "$values" == __files__ ]]; then
        COMPREPLY=( $(compgen -f -- "$cur") )
    else
        COMPREPLY=( $(compgen -W "$values" -- "$cur") )
    fi
    return 0
}}
complete -o filenames -F _archdsl archdsl
"""


def zsh_script(parser: argparse.ArgumentParser) -> str:
    # zsh runs bash completion functions through its bashcompinit emulation.
    return ("#compdef archdsl\n# archdsl's completion for zsh, written by `archdsl completion zsh`: load it after "
            "compinit.\nautoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser))


def cmd_completion(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    print(bash_script(parser) if args.shell == "bash" else zsh_script(parser), end="")
    return 0


def register(sub) -> None:
    p = sub.add_parser("completion", help="print a shell completion script (bash or zsh)",
                       description="Print a completion script. bash: `archdsl completion bash > "
                                   "~/.local/share/bash-completion/completions/archdsl`; zsh: add "
                                   "`source <(archdsl completion zsh)` to ~/.zshrc after compinit.")
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(run=cmd_completion)
