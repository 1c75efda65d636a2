"""A command line read without argparse, exactly as argparse would read it, or not at all.

argparse, with the `re`, `gettext` and `locale` it imports and the parsers it builds, is about a
fifth of a client command's run (benchmarks/README.md, "CLI start-up"); a script signing in a
loop pays it on every call. So `read` records the grammar of the top parser and of the command
named, from the same declarations argparse is given (`add_global_options`, each module's
`register`), and reads the line itself when it is plainly well formed: options spelt in full
(`--key-name K`, `-k K`, `--key-name=K`), values that do not start with "-", the command's
positionals in order, nothing missing, nothing left over, every value accepted by its type
and choices. Then the result is the Namespace argparse would make (the same attributes and
values). Anything else (help, `--version`, `--`, abbreviations, `-kK`, a value starting with
"-", any usage error, a declaration using more of argparse than this knows) is declined:
`read` returns None and argparse reads the line (`_grammar.read`), so that help, usage errors
and exit codes stay argparse's own. `tests/unit/cli/test_quick.py` holds the two readers to the
same answers over many command lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tessera.cli._commands import COMMANDS

TYPE_CHECKING = False  # typing is not imported at run time (start-up time)
if TYPE_CHECKING:
    import argparse
    from typing import Any

# argparse.SUPPRESS's value (argparse compares it by identity; the declarations hand the
# recorder this one through `suppress`)
SUPPRESS = "==SUPPRESS=="


class DeclinedError(Exception):
    """The line (or a declaration) is not one this reader answers as argparse would."""


class Namespace:
    """argparse.Namespace's behaviour (attributes, equality, `in`, repr) without argparse."""

    def __init__(self, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        names = []
        for name, value in vars(self).items():
            names.append(
                f"{name}={value!r}" if name.isidentifier() else f"**{{{name!r}: {value!r}}}"
            )
        return f"Namespace({', '.join(names)})"

    def __eq__(self, other: object) -> bool:
        kind = type(other)
        if kind.__name__ != "Namespace" or kind.__module__ not in ("argparse", __name__):
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # (as argparse's: mutable, compared by value)

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__


class _Option:
    """One `add_argument` call that this reader understands."""

    __slots__ = ("choices", "default", "dest", "flag", "optional", "required", "strings", "type")

    def __init__(self, names: tuple[str, ...], options: dict[str, Any]) -> None:
        action = options.pop("action", "store")
        nargs = options.pop("nargs", None)
        self.default: Any = options.pop("default", False if action == "store_true" else None)
        self.type: Callable[[str], Any] | None = options.pop("type", None)
        self.choices = options.pop("choices", None)
        self.required: bool = options.pop("required", False)
        options.pop("help", None)
        options.pop("metavar", None)
        dest: str | None = options.pop("dest", None)
        if options or action not in ("store", "store_true") or nargs not in (None, "?"):
            raise DeclinedError  # more of argparse than this reader knows
        if action == "store_true" and (nargs is not None or self.type is not None):
            raise DeclinedError
        self.flag = action == "store_true"
        self.strings = tuple(name for name in names if name.startswith("-"))
        self.optional = nargs == "?"
        if self.strings:  # an option: its dest from its first long name, as argparse's
            if len(self.strings) != len(names) or self.optional:
                raise DeclinedError
            if dest is None:
                long = [name for name in names if name.startswith("--")]
                dest = (long or [names[0]])[0].lstrip("-").replace("-", "_")
        else:  # a positional: its name is its dest
            if len(names) != 1 or dest is not None or self.required:
                raise DeclinedError
            dest = names[0]
        self.dest: str = dest

    def value_of_default(self, text: str) -> Any:
        """A default given as text, converted by the type (argparse checks no choices there)."""
        assert self.type is not None
        try:
            return self.type(text)
        except Exception:
            raise DeclinedError from None

    def value(self, text: str) -> Any:
        """The value of `text` as argparse's type and choices would have it."""
        value = text
        if self.type is not None:
            try:
                value = self.type(text)
            except Exception:  # argparse reports it (or not: it may take it otherwise)
                raise DeclinedError from None
        if self.choices is not None and value not in self.choices:
            raise DeclinedError
        return value


class Grammar:
    """What a parser's declarations say, recorded: options, positionals, defaults."""

    suppress = SUPPRESS  # the value `add_output_options` gives for "no default"

    def __init__(self) -> None:
        self.options: list[_Option] = []
        self.defaults: dict[str, Any] = {}

    def add_argument(self, *names: str, **options: Any) -> None:
        self.options.append(_Option(names, dict(options)))

    def add_argument_group(self, *args: Any, **kwargs: Any) -> Grammar:
        return self  # (groups only arrange the help)

    def set_defaults(self, **defaults: Any) -> None:
        self.defaults.update(defaults)

    def __getattr__(self, name: str) -> Any:
        raise DeclinedError  # any other part of argparse's parser: not for this reader

    def namespace(self) -> dict[str, Any]:
        """The attributes argparse sets before reading a line (`parse_known_args`)."""
        values = {o.dest: o.default for o in self.options if o.default != SUPPRESS}
        for dest, value in self.defaults.items():
            values.setdefault(dest, value)
        return values

    def read(self, words: Sequence[str], values: dict[str, Any], *, top: bool) -> int:
        """Read options (and, below the top, positionals) from `words` into `values`; returns
        how many words were read (the top stops at its first positional, the command)."""
        by_string = {string: o for o in self.options for string in o.strings}
        positionals = [o for o in self.options if not o.strings]
        several = len(positionals) > 1
        seen: set[_Option] = set()
        i = 0
        while i < len(words):
            word = words[i]
            if word.startswith("-") and word != "-":
                if several and any(not o.strings for o in seen):
                    # argparse matches positionals by runs between options: a later one may
                    # take its default there and then the words after the option are left over
                    raise DeclinedError
                option, i = self._option(by_string, words, i, values)
            elif top:
                break
            else:
                if not positionals:
                    raise DeclinedError  # left over
                option = positionals.pop(0)
                values[option.dest] = option.value(word)
                i += 1
            seen.add(option)
        if any(not option.optional for option in positionals):
            raise DeclinedError  # missing (those left take their default, as in argparse)
        seen.update(positionals)
        self._finish(seen, values)
        return i

    @staticmethod
    def _option(
        by_string: dict[str, _Option], words: Sequence[str], i: int, values: dict[str, Any]
    ) -> tuple[_Option, int]:
        """Read the option at `words[i]` (and its value); returns it and the next index."""
        name, equals, attached = words[i].partition("=")
        option = by_string.get(name if name.startswith("--") else words[i])
        if option is None:
            raise DeclinedError  # "--", -h, --version, abbreviations, -kK, unknown words
        if option.flag:
            if equals:
                raise DeclinedError
            values[option.dest] = True
            return option, i + 1
        if equals:
            values[option.dest] = option.value(attached)
            return option, i + 1
        following = words[i + 1] if i + 1 < len(words) else "-x"
        if following.startswith("-") and following != "-":  # ("-": stdin)
            raise DeclinedError  # no value, or one argparse may read otherwise
        values[option.dest] = option.value(following)
        return option, i + 2

    def _finish(self, seen: set[_Option], values: dict[str, Any]) -> None:
        """Refuse a missing required option; convert defaults given as text, as argparse."""
        for option in self.options:
            if option in seen:
                continue
            if option.required:
                raise DeclinedError
            default: object = option.default
            if (
                values.get(option.dest) is default
                and isinstance(default, str)
                and default != SUPPRESS
                and option.type is not None
            ):
                values[option.dest] = option.value_of_default(default)


class Recorder:
    """Stands for `tessera`'s sub-commands (`_grammar.Commands`) while a module registers the
    command wanted: records its grammar instead of building an argparse parser."""

    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.grammar: Grammar | None = None

    def wants(self, name: str) -> bool:
        return name == self.wanted

    def add_parser(self, name: str, **kwargs: Any) -> Grammar:
        if name != self.wanted or self.grammar is not None:
            raise DeclinedError
        if set(kwargs) - {"help", "description", "epilog", "formatter_class"}:
            raise DeclinedError  # aliases, add_help=False, prefix_chars...
        self.grammar = Grammar()
        return self.grammar

    def __getattr__(self, name: str) -> Any:
        raise DeclinedError


def top_grammar() -> Grammar:
    """The top parser's options, from the declaration argparse's top parser is given (its
    -h and --version are not recorded: a line holding them is declined)."""
    from tessera.cli._common import add_global_options

    grammar = Grammar()
    add_global_options(grammar)  # type: ignore[arg-type]  # (duck-typed: see Grammar)
    return grammar


def command_grammar(word: str) -> Grammar:
    """The grammar of command `word`, recorded from its module's declaration."""
    module = __import__(f"tessera.cli.{COMMANDS[word].module}", fromlist=["register"])
    recorder = Recorder(word)
    module.register(recorder)
    if recorder.grammar is None:
        raise DeclinedError
    return recorder.grammar


def read(arguments: Sequence[str]) -> argparse.Namespace | None:
    """The Namespace argparse would make of this command line, or None where this reader
    cannot be sure of it (argparse must read the line)."""
    try:
        top = top_grammar()
        values = top.namespace()
        values["command"] = None  # the sub-commands' dest (required, default None)
        start = top.read(arguments, values, top=True)
        if start == len(arguments) or arguments[start] not in COMMANDS:
            raise DeclinedError
        word = arguments[start]
        values["command"] = word
        grammar = command_grammar(word)
        command_values = grammar.namespace()
        grammar.read(arguments[start + 1 :], command_values, top=False)
    except DeclinedError:
        return None
    values.update(command_values)
    return Namespace(**values)  # type: ignore[return-value]  # (argparse.Namespace's behaviour)
