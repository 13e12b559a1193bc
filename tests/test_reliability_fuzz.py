"""Random and mutated bytes into the readers of user files: a checkpoint (loaded and then
applied to a trainer, as resuming does) raises only CheckpointError and a config file only
ConfigError, always one line naming the file; nothing else escapes and nothing hangs.

The IDX reader has the same properties pinned in tests/test_data_idx.py (random bytes and
mutated valid files, raw and gzipped)."""

import copy
import io
import json
import math
import re
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.data.base import ImageData, TensorImageSet
from drawstudio.errors import CheckpointError, ConfigError, NonFiniteError
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.trainer import Trainer

# A generous per-example deadline catches a loader that spins; the thread timeout ends the
# whole run if one blocks where Python cannot interrupt it (inside torch's C++ reader).
# print_blob: a failure prints the @reproduce_failure line that replays its random example.
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=10), print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
pytestmark = pytest.mark.timeout(240, method="thread")

# ---- checkpoints --------------------------------------------------------------------------


class Target:
    """A trainer of a very small model on synthetic images, a real checkpoint of it, and the
    file the fuzzed bytes are written to."""

    def __init__(self, directory: Path):
        config = RunConfig(
            model=ModelConfig(height=8, width=8, T=2, read_n=2, write_n=3, enc_size=8, dec_size=8, z_size=2),
            train=TrainConfig(batch_size=4, eval_every=0),
        )
        images = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        data = ImageData("synthetic", train=TensorImageSet(images[:12]), test=TensorImageSet(images[12:]))
        self.trainer = Trainer(config, None, data=data)
        self.trainer.train_step()
        self.state = self.trainer.state_dict()
        self.real = ckpt.save_checkpoint(directory, self.state).read_bytes()
        self.path = directory / "fuzzed.pt"

    def only_checkpoint_errors(self, content: bytes) -> bool:
        """Load `content` as resuming would; the only failure allowed is a one-line CheckpointError.
        True when it was accepted."""
        self.path.write_bytes(content)
        try:
            state = ckpt.load_checkpoint(self.path)
            self.trainer.load_state(self.path, state)
        except CheckpointError as error:
            assert str(self.path) in str(error) and "\n" not in str(error)
            return False
        # accepted: then it is a state training can go on from, not junk that fails later
        step = self.trainer.step
        try:
            self.trainer.train_step()
        except NonFiniteError:  # finite but huge weights: the guard every run has reports it
            return True
        assert self.trainer.step == step + 1
        return True


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    # Building the trainer seeds, and loading a checkpoint sets, torch's global RNG: give
    # the tests after this module the state they would have had.
    rng = torch.get_rng_state()
    yield Target(tmp_path_factory.mktemp("fuzz"))
    torch.set_rng_state(rng)


def apply_edits(content: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    """XOR each (position mod length, mask) into `content`, then drop the last (cut mod
    length + 1) bytes."""
    mutated = bytearray(content)
    for position, mask in edits:
        if mutated:
            mutated[position % len(mutated)] ^= mask
    return bytes(mutated[: len(mutated) - cut % (len(mutated) + 1)])


def rezip(real: bytes, member: int, mutate: Any) -> bytes:
    """The checkpoint's zip rebuilt with one member's bytes replaced by `mutate(bytes)`, so the
    zip itself (names, sizes, CRCs) is valid and torch's reader hands on the mutated data."""
    source = zipfile.ZipFile(io.BytesIO(real))
    members = source.infolist()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as rebuilt:
        for index, info in enumerate(members):
            data = source.read(info)
            rebuilt.writestr(info.filename, mutate(data) if index == member % len(members) else data)
    return out.getvalue()


EDITS = st.lists(st.tuples(st.integers(0, 2**32), st.integers(1, 255)), max_size=8)
PREFIXES = st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x80\x02", b"\x80\x04\x95"])


def test_the_rebuilt_zip_is_still_a_loadable_checkpoint(target):
    """Guards the mutation tests: without a mutation the rebuilt zip loads and resumes, so the
    mutated bytes really reach the unpickler and the trainer."""
    target.path.write_bytes(rezip(target.real, 0, lambda data: data))
    state = ckpt.load_checkpoint(target.path)
    target.trainer.load_state(target.path, state)
    assert target.trainer.step == 1


@FUZZ
@given(prefix=PREFIXES, content=st.binary(max_size=4096))
def test_random_bytes_raise_only_checkpoint_error(target, prefix, content):
    assert not target.only_checkpoint_errors(prefix + content), "random bytes were accepted as a checkpoint"


@FUZZ
@given(edits=EDITS, cut=st.integers(0, 2**32))
def test_truncated_or_flipped_checkpoint_raises_only_checkpoint_error(target, edits, cut):
    content = apply_edits(target.real, edits, cut)
    accepted = target.only_checkpoint_errors(content)
    if len(content) < len(target.real):  # a cut zip has lost its central directory
        assert not accepted, "a truncated checkpoint was accepted"


@FUZZ
@given(member=st.just(0) | st.integers(0, 100), edits=EDITS.filter(bool), cut=st.just(0) | st.integers(0, 2**32))
def test_zip_member_with_mutated_bytes_raises_only_checkpoint_error(target, member, edits, cut):
    """Member 0 is the pickle (data.pkl), so it is picked about half the time; the others hold
    tensor bytes and the format's version and byte order."""
    target.only_checkpoint_errors(rezip(target.real, member, lambda data: apply_edits(data, edits, cut)))


def nested(leaves: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
        max_leaves=6,
    )


# Plain values of every kind. No subnormal floats: building a Trainer sets torch's
# flush-denormal mode for the whole process, after which hypothesis cannot make them.
JSON_JUNK = nested(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_subnormal=False)
                   | st.text(max_size=8))
STATE_JUNK = nested(st.one_of(JSON_JUNK, st.builds(torch.randn, st.lists(st.integers(0, 3), max_size=3).map(tuple))))


def leaf_paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Key paths to every value inside nested dicts and lists (tensors count as leaves)."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    paths = [path] if path else []
    for key, child in children:
        paths += leaf_paths(child, (*path, key))
    return paths


def replaced(value: Any, path: tuple, new: Any) -> Any:
    """A copy of nested dicts/lists `value` with the item at `path` set to `new`."""
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


# Adam warns (and then copes) when its state holds an index list where a tensor belongs
@pytest.mark.filterwarnings("ignore:Using a non-tuple sequence for multidimensional indexing")
@FUZZ
@given(picks=st.lists(st.tuples(st.integers(0, 2**32), STATE_JUNK), min_size=1, max_size=3))
def test_checkpoint_holding_values_of_the_wrong_kind_raises_only_checkpoint_error(target, picks):
    """Well-formed files whose content is wrong: any entry of the state (the step, a weight,
    the optimiser's moments, the schedule, the sampler, the RNG, the stored config) replaced
    by other plain data, as a file from another program or a damaged writer could hold."""
    state: Any = {"format": ckpt.FORMAT, "version": ckpt.VERSION, **target.state}
    for pick, junk in picks:
        paths = leaf_paths(state)
        state = replaced(state, paths[pick % len(paths)], junk)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    target.only_checkpoint_errors(buffer.getvalue())


# ---- config files ---------------------------------------------------------------------------

FIELDS = {"model": [*ModelConfig.__dataclass_fields__], "train": [*TrainConfig.__dataclass_fields__]}
REAL_CONFIG = json.dumps(RunConfig().to_dict(), indent=2)
# number spellings JSON parsers treat specially: beyond int-to-str limits, beyond float range
NUMBERS = (st.text("0123456789", min_size=1, max_size=6000) | st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "-0", "1e-400", "9" * 400, "0.5", "-1", "2e9"]))


def only_config_errors(path: Path, content: bytes) -> None:
    """Load `content` as a config file: it is refused with a one-line ConfigError naming the file,
    or it is a JSON object of known fields whose every value the loaded config holds."""
    path.write_bytes(content)
    try:
        config = RunConfig.load(path)
    except ConfigError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return
    loaded = config.to_dict()
    for section, entries in json.loads(content).items():
        for name, value in entries.items():
            held = loaded[section][name]
            # a whole number in a float field is held as that float
            assert held == value or (type(held) is float and held == float(value)), (section, name, value)


@FUZZ
@given(content=st.binary(max_size=2000))
def test_random_bytes_as_config_raise_only_config_error(tmp_path, content):
    only_config_errors(tmp_path / "config.json", content)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 2**32), st.integers(1, 127)), max_size=6),
       cut=st.just(0) | st.integers(0, 2**32))
def test_mutated_config_file_raises_only_config_error(tmp_path, edits, cut):
    only_config_errors(tmp_path / "config.json", apply_edits(REAL_CONFIG.encode(), edits, cut))


@FUZZ
@given(
    section=st.sampled_from(["model", "train"]),
    entries=st.lists(st.tuples(st.integers(0, 100) | st.text(max_size=6), JSON_JUNK), max_size=4),
    top=st.none() | JSON_JUNK,
)
def test_config_with_wrong_types_or_impossible_values_raises_only_config_error(tmp_path, section, entries, top):
    """Valid JSON with junk in known fields (index into the field list) or unknown ones, or junk
    instead of the whole document."""
    data: Any = {"model": {}, "train": {}} if top is None else top
    if top is None:
        for key, value in entries:
            name = FIELDS[section][key % len(FIELDS[section])] if isinstance(key, int) else key
            data[section][name] = value
    only_config_errors(tmp_path / "config.json", json.dumps(data).encode())


@FUZZ
@given(field=st.sampled_from([(s, f) for s, names in FIELDS.items() for f in names]), number=NUMBERS)
def test_extreme_number_in_a_config_field_raises_only_config_error(tmp_path, field, number):
    section, name = field
    only_config_errors(tmp_path / "config.json", f'{{"{section}": {{"{name}": {number}}}}}'.encode())


@pytest.mark.parametrize("depth", [50, 100_000], ids=["shallow", "deeper-than-the-recursion-limit"])
def test_deeply_nested_config_raises_config_error(tmp_path, depth):
    path = tmp_path / "config.json"
    path.write_text("[" * depth + "]" * depth)
    with pytest.raises(ConfigError, match="config.json"):
        RunConfig.load(path)


def test_non_finite_values_are_impossible_settings(tmp_path):
    for name in ("lr", "grad_clip", "lr_decay"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"train": {name: math.nan}}))
        with pytest.raises(ConfigError, match=f"{name}=nan"):
            RunConfig.load(path)


# ---- damage that loads but would break the next training step (found by the fuzzing above) ----


def saved_with(target: Target, change: Any) -> bytes:
    state: Any = copy.deepcopy({"format": ckpt.FORMAT, "version": ckpt.VERSION, **target.state})
    change(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def first_moments(state: Any) -> dict[str, Any]:
    return state["optimizer"]["state"][0]


@pytest.mark.parametrize("damage, refusal", [
    (lambda s: first_moments(s).update(exp_avg=torch.zeros(1).expand(first_moments(s)["exp_avg"].shape)),
     "damaged tensor checkpoint['optimizer']['state'][0]['exp_avg']"),
    (lambda s: first_moments(s).update(step=torch.tensor(1e6)), "step count 1000000.0 outside 0..1"),
    (lambda s: first_moments(s).update(exp_avg_sq=torch.full_like(first_moments(s)["exp_avg_sq"], math.nan)),
     "exp_avg_sq is not finite"),
    (lambda s: first_moments(s).update(exp_avg=torch.zeros(3)), "exp_avg has shape (3,)"),
    (lambda s: first_moments(s).update(exp_avg_sq=torch.tensor(0.5)), "exp_avg_sq has shape ()"),
    (lambda s: s["optimizer"]["param_groups"][0].update(eps=None), "damaged optimiser settings (eps is None)"),
], ids=["elements-sharing-memory", "huge-step-count", "nan-moment", "wrong-shape-moment", "scalar-moment",
                                  "junk-setting"])
def test_optimiser_damage_that_would_break_the_next_step_is_refused_and_a_good_checkpoint_still_loads(
        target, damage, refusal):
    target.path.write_bytes(saved_with(target, damage))
    with pytest.raises(CheckpointError, match=re.escape(refusal)):
        target.trainer.load_state(target.path, ckpt.load_checkpoint(target.path))
    assert target.only_checkpoint_errors(target.real)  # the fallback to an older checkpoint works
