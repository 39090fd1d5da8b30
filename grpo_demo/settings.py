"""Every setting a user can type, defined once: its type, range and help text.

``RunConfig``, ``SamplingParams`` and the evaluation size declare their fields with
:func:`setting`; the checks (:meth:`Setting.parse`), the CLI flags (:func:`add_arguments`), the
Gradio widget ranges (:meth:`Setting.widget`) and README's limits table (``grpo_demo.limits``)
all come from it, so they cannot disagree. A setting is a bounded number (``int``/``float``), a
switch (``bool``) or one of named ``choices`` (``str``). The app's lower cap (``app_maximum``)
is there because one request holds the shared model for every visitor.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A setting a user can fix; the message names it and says what is allowed."""


@dataclass(frozen=True)
class Setting:
    """One typed, bounded setting. ``None`` as a value means "the default" and is not checked."""

    kind: type  # int, float, bool, or str (one of ``choices``)
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    open_min: bool = False  # the minimum itself is not allowed (learning_rate > 0)
    open_max: bool = False
    app_maximum: float | None = None  # the app's own, lower cap (one request holds the model)
    step: float | None = None  # widget arrows; None: 1 for whole numbers
    grpo: bool = False  # a GRPOConfig field of the same name, passed to TRL as it is
    choices: tuple[str, ...] = ()  # kind str: the allowed values, in the order shown
    name: str = ""  # filled in from the field name by settings_of()

    def __post_init__(self) -> None:
        if (self.kind is str) != bool(self.choices):
            raise TypeError(f"setting {self.name or '?'}: choices go with kind str, and only there")

    # -- checking ---------------------------------------------------------------------------
    def parse(self, value: Any, *, app: bool = False) -> Any:
        """A typed, in-range value from whatever a widget, an API client or the CLI sent."""
        if value is None:
            return None
        if self.kind is str:
            text = value.strip() if isinstance(value, str) else None  # whitespace ignored
            if text not in self.choices:
                raise ConfigError(f"{self.name} must be {self.allowed()} (got {value!r})")
            return text
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{self.name} must be true or false (got {value!r})")
            return value
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ConfigError(f"{self.name} must be a number (got {value!r})") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.name} must be a number (got {value!r})")
        if not math.isfinite(value):
            raise ConfigError(f"{self.name} must be a finite number (got {value!r})")
        if self.kind is int and value != int(value):
            raise ConfigError(f"{self.name} must be a whole number (got {value!r})")
        value = int(value) if self.kind is int else float(value)
        hi = self.upper(app)
        low = self.minimum is not None and (
            value <= self.minimum if self.open_min else value < self.minimum
        )
        high = hi is not None and (value >= hi if self.open_max else value > hi)
        if low or high:  # the message names the setting and its range
            raise ConfigError(f"{self.name} must be {self.allowed(app, low)} (got {value})")
        return value

    def upper(self, app: bool = False) -> float | None:
        return self.app_maximum if app and self.app_maximum is not None else self.maximum

    def allowed(self, app: bool = False, low_side: bool | None = None) -> str:
        """The range in words: ``1..10000`` for whole numbers, else the violated side;
        ``one of grpo, dapo`` for a choice."""
        if self.kind is str:
            return "one of " + ", ".join(self.choices)
        lo, hi = self.minimum, self.upper(app)
        if self.kind is int and lo is not None and hi is not None:
            return f"{format_number(lo)}..{format_number(hi)}"
        lo_text = None if lo is None else f"{'>' if self.open_min else '>='} {format_number(lo)}"
        hi_text = None if hi is None else f"{'<' if self.open_max else '<='} {format_number(hi)}"
        if low_side is True or (low_side is None and hi_text is None):
            return lo_text or "any number"
        if low_side is False or lo_text is None:
            return hi_text or "any number"
        return f"{lo_text} and {hi_text}"

    # -- widgets and flags ------------------------------------------------------------------
    def widget(self, app: bool = True) -> dict[str, Any]:
        """An ``info`` line with the range, and ``step`` (Number) or ``choices`` (Dropdown).

        No ``minimum``/``maximum``: Gradio would refuse an out-of-range value itself, before any
        validator, naming no field, and a Slider clamps typed values silently; :meth:`parse` refuses
        it instead, naming the setting and its range."""
        out: dict[str, Any] = {"info": f"{self.allowed_text(app)}; {self.help}"}
        if self.kind is str:
            out["choices"] = list(self.choices)
        elif step := self.step or (1 if self.kind is int else None):
            out["step"] = step
        return out

    def allowed_text(self, app: bool = True) -> str:
        """The full range in words: ``1..16``, ``> 0 and <= 1``, ``one of group, batch, none``."""
        return self.allowed(app, None)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def format_number(x: float) -> str:
    """``10000``, ``0.05``, ``1e-06``: whole numbers without a trailing ``.0``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def setting(kind: type, default: Any = None, minimum=None, maximum=None, help="", **kw) -> Any:
    """A dataclass field carrying its :class:`Setting` (type, range, help) as metadata."""
    spec = Setting(kind, minimum, maximum, help, **kw)
    return dataclasses.field(default=default, metadata={"setting": spec})


def settings_of(cls: type) -> dict[str, Setting]:
    """The :class:`Setting` of every field of ``cls`` declared with :func:`setting`."""
    return {
        f.name: dataclasses.replace(f.metadata["setting"], name=f.name)
        for f in dataclasses.fields(cls)
        if "setting" in f.metadata
    }


def check_fields(obj: Any) -> None:
    """Parse every setting field of a dataclass instance in place (typed, finite, in range)."""
    for name, spec in settings_of(type(obj)).items():
        object.__setattr__(obj, name, spec.parse(getattr(obj, name)))


# -- the CLI -----------------------------------------------------------------------------------
def _cli_type(spec: Setting):
    def parse(text: str):
        try:
            return spec.parse(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = spec.kind.__name__  # argparse names the type in its messages
    return parse


def add_arguments(
    parser: argparse.ArgumentParser,
    specs: dict[str, Setting],
    defaults: dict[str, Any] | None = None,
    aliases: dict[str, str] | None = None,
    notes: dict[str, str] | None = None,
) -> None:
    """One flag per setting with its help, range and ``defaults``; a flag without one defaults
    to ``None`` and its ``notes`` entry says what ``None`` means (e.g. "the preset's")."""
    for name, spec in specs.items():
        flags = [*([aliases[name]] if aliases and name in aliases else []), spec.flag]
        default = (defaults or {}).get(name)
        shown = (notes or {}).get(name) or f"default {default}"
        help = f"{spec.help} [{spec.allowed()}; {shown}]"
        if spec.kind is bool:
            kind, help = {"action": argparse.BooleanOptionalAction}, f"{spec.help} ({shown})"
        elif spec.kind is str:  # argparse refuses anything else, listing the choices
            kind = {"type": str.strip, "choices": spec.choices}
        else:
            kind = {"type": _cli_type(spec), "metavar": spec.kind.__name__.upper()}
        parser.add_argument(*flags, default=default, help=help, **kind)
