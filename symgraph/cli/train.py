"""``symgraph train``: the lecture's MLP or CNN, trained with progress, metrics, checkpoints and exact resume.

The run is a loop over epochs of shuffled minibatches, one compiled step per batch. Its position (the epoch under
way, the steps of it done, the state of the generator that orders the data at the start of that epoch, and the
losses of those steps) and every variable the step updates (parameters, the optimizer's state and step counter,
random streams) make a checkpoint; resuming restores them, draws that epoch's order again and skips the steps done,
so a resumed run ends with bitwise the parameters of an uninterrupted one. Ctrl-C (SIGINT) asks the loop to stop
after the step under way; it then writes a checkpoint and exits with 130.

Everything the run prints or writes goes through one ``Output`` object, and the steps through ``Trainer``, so a
data-parallel run changes those two places only. Under ``mpiexec -n N`` (N > 1; see symgraph/cli/parallel.py) the
run is data-parallel: ``--batch-size`` is the global batch, every process steps on its shard of each global batch
(the same global order as one process) with the gradients averaged over the global batch in one allreduce, and the
parameters start as rank 0's (broadcast, after checking that every process built the same model), so the trained
parameters are one process's up to float rounding. Only rank 0 prints, evaluates accuracies and writes files. After
every step one more allreduce, of three numbers, gives every process the global batch's loss and example count and
whether any process was asked to stop (mpiexec forwards Ctrl-C to every process, each at its own step): all stop
after the same step, rank 0 writes the checkpoint and all exit with 130. A checkpoint holds the global per-step
losses and one copy of the variables, so it resumes with any number of processes (every process reads it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

from symgraph.backends.threads import get_num_threads, set_num_threads
from symgraph.cli.errors import CliError
from symgraph.cli.parallel import SINGLE, Processes, processes as launched_processes
from symgraph.cli.models import DATASETS, DEFAULT_LR, MODELS, OPTIMIZERS, Data, build_model, load_data, \
    make_optimizer
from symgraph.data import minibatches
from symgraph.datasets import DatasetNotFoundError
from symgraph.function import Function, function
from symgraph.graph import toposort
from symgraph.io import load_variables, read_metadata, save, save_variables

try:
    from tqdm import tqdm
except ImportError:  # the examples extra installs tqdm; without it, progress is printed per epoch only
    tqdm = None

CHECKPOINT_FILE = "checkpoint.safetensors"
RUN_FORMAT = "symgraph.train"
RUN_VERSION = 1
INTERRUPTED = 130  # the exit status of a process ended by SIGINT (128 + 2), as shells report it
DEFAULT_EPOCHS = {"mlp": 5, "cnn": 1}
DEFAULT_OPTIMIZER = {"mlp": "sgd", "cnn": "momentum"}
# What a resumed run must share with the run that wrote the checkpoint (anything else may change).
RUN_KEYS = ("model", "dataset", "train_limit", "batch_size", "optimizer", "lr", "seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=MODELS, help="mlp: pixels-500-10 ReLU; cnn: the lecture's CNN")
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="total epochs, counting those a resumed checkpoint has done (default: mlp 5, cnn 1)")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="examples per step (under mpiexec -n N: the global batch, split across the N processes)")
    parser.add_argument("--lr", type=non_negative_float, default=None,
                        help="learning rate (default: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                        help="sgd, momentum (SGD with momentum 0.9) or adam (default: mlp sgd, cnn momentum)")
    parser.add_argument("--backend", choices=["numba", "numpy"], default="numba",
                        help="numba: the whole step compiled (cached on disk); numpy: the reference interpreter")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of the data order")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="threads of BLAS (NumPy's and SciPy's) and of the Numba backend, set by "
                             "sg.set_num_threads (default: $SYMGRAPH_NUM_THREADS, else 1: the fastest on a shared "
                             "machine; raise it on one you have to yourself)")
    parser.add_argument("--checkpoint", metavar="DIR", default=None,
                        help=f"write DIR/{CHECKPOINT_FILE} at every epoch's end and on Ctrl-C (without it, Ctrl-C "
                             f"writes to checkpoints/MODEL)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in the --checkpoint directory (or checkpoints/MODEL)")
    parser.add_argument("--save", metavar="FILE", default=None,
                        help="write the trained graph (images, labels -> logits, loss) with sg.save, for "
                             "`symgraph show` or sg.load")
    parser.add_argument("--log-every", type=positive_int, default=None, metavar="STEPS",
                        help="also print the loss every STEPS steps (for logs of long runs)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data options that ``symgraph train`` and the examples share."""
    parser.add_argument("--dataset", choices=DATASETS, default="auto",
                        help="auto: MNIST if found locally or downloadable, else scikit-learn's bundled 8x8 digits")
    parser.add_argument("--data-dir", default=None,
                        help="directory holding the MNIST IDX files, searched before $SYMGRAPH_DATA/mnist and the cache")
    parser.add_argument("--train-limit", type=positive_int, default=None,
                        help="use only the first N training examples (all when not given)")
    parser.add_argument("--test-limit", type=positive_int, default=None,
                        help="use only the first N test examples (all when not given)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


positive_int.__name__ = "positive integer"  # how argparse names the type in its error: "invalid positive integer"


def non_negative_float(text: str) -> float:
    value = float(text)
    if not np.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


non_negative_float.__name__ = "non-negative number"


def run(args) -> int:
    """``symgraph train``: the exit status (0 when done, 130 when interrupted)."""
    optimizer_name = args.optimizer or DEFAULT_OPTIMIZER[args.model]
    lr = DEFAULT_LR[optimizer_name] if args.lr is None else args.lr
    team = launched_processes()
    output = Output(progress=not args.no_progress, log_every=args.log_every, processes=team)
    set_num_threads(args.threads or get_num_threads())  # every BLAS, NumPy's too: the NumPy backend's matmuls use it
    try:
        data = load_data(args.dataset, args.data_dir, args.train_limit, args.test_limit)
    except DatasetNotFoundError as error:
        raise CliError(f"{error} Or run with --dataset digits (no download needed).") from None
    output.line(data.summary())
    config = {"model": args.model, "dataset": "mnist" if data.name == "MNIST" else "digits",
              "train_limit": args.train_limit, "batch_size": args.batch_size, "optimizer": optimizer_name, "lr": lr,
              "seed": args.seed}
    checkpoint_dir = args.checkpoint or os.path.join("checkpoints", args.model)
    trainer = Trainer.build(config, data, args.backend, output, checkpoint_dir, epoch_checkpoints=bool(args.checkpoint),
                            processes=team)
    position = trainer.resume() if args.resume else None
    epochs = args.epochs or DEFAULT_EPOCHS[args.model]
    if position is not None and position.epoch > epochs:
        raise CliError(f"the checkpoint in {checkpoint_dir} has done {position.epoch - 1} epochs and --epochs is the "
                       f"total: pass --epochs {position.epoch} or more to train further")
    with SigintFlag() as interrupt:
        outcome = trainer.fit(epochs, position, interrupt)
    if outcome.interrupted:
        output.line(f"interrupted in epoch {outcome.position.epoch} after step {outcome.position.step} of "
                    f"{trainer.steps_per_epoch}: checkpoint saved to {trainer.checkpoint_path}; resume with: "
                    f"{resume_command(args, config, checkpoint_dir, team.size)}")
        return INTERRUPTED
    if args.save:
        output.save_graph(args.save, trainer.model, {"model": args.model, "dataset": config["dataset"],
                                                      "epochs": epochs, "test_accuracy": outcome.test_accuracy,
                                                      "cost": trainer.model.loss.name})
        output.line(f"saved the trained graph to {args.save}")
    return 0


def resume_command(args, config: dict, checkpoint_dir: str, processes: int = 1) -> str:
    """The command that resumes this run: its options with the values it used (auto's dataset as resolved), under
    ``mpiexec -n N`` when ``processes`` N > 1 (any N resumes it)."""
    launcher = ["mpiexec", "-n", str(processes)] if processes > 1 else []
    words = launcher + ["symgraph", "train", args.model, "--dataset", config["dataset"], "--optimizer", config["optimizer"],
             "--lr", repr(config["lr"]), "--batch-size", str(config["batch_size"]), "--seed", str(config["seed"])]
    for option, value in (("--epochs", args.epochs), ("--train-limit", args.train_limit),
                          ("--test-limit", args.test_limit), ("--data-dir", args.data_dir), ("--save", args.save),
                          ("--log-every", args.log_every)):
        if value is not None:
            words += [option, str(value)]
    if args.backend != "numba":
        words += ["--backend", args.backend]
    if args.threads is not None:
        words += ["--threads", str(args.threads)]
    if args.no_progress:
        words.append("--no-progress")
    return " ".join(words + ["--checkpoint", checkpoint_dir, "--resume"])


# -- the run's position ---------------------------------------------------------------------------------------------

@dataclass
class Position:
    """Where a run is: ``epoch`` under way (from 1), ``step`` steps of it done, ``order_state`` the data-order
    generator's state at the start of that epoch (``bit_generator.state``), ``losses`` of those steps."""

    epoch: int
    step: int
    order_state: dict
    losses: list = field(default_factory=list)

    def to_json(self) -> dict:
        state = self.order_state
        if state.get("bit_generator") != "PCG64":
            raise TypeError(f"the data order's generator is {state.get('bit_generator')}, expected PCG64")
        # 128-bit integers as decimal strings: JSON readers other than Python's keep only 53 bits of a number.
        order = {"bit_generator": "PCG64", "state": str(state["state"]["state"]), "inc": str(state["state"]["inc"]),
                 "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}
        return {"epoch": self.epoch, "step": self.step, "order_rng": order, "losses": list(self.losses)}

    @classmethod
    def from_json(cls, entry, where: str) -> "Position":
        try:
            order = entry["order_rng"]
            state = {"bit_generator": "PCG64", "state": {"state": int(order["state"]), "inc": int(order["inc"])},
                     "has_uint32": int(order["has_uint32"]), "uinteger": int(order["uinteger"])}
            np.random.default_rng().bit_generator.state = state  # refuses a state PCG64 cannot take
            position = cls(int(entry["epoch"]), int(entry["step"]), state, [float(x) for x in entry["losses"]])
            if order["bit_generator"] != "PCG64" or position.epoch < 1 or position.step < 0 or \
                    len(position.losses) != position.step:
                raise ValueError("inconsistent")
        except (KeyError, TypeError, ValueError) as error:
            raise CliError(f"{where}: the training position in its metadata is damaged ({type(error).__name__}: "
                           f"{error}); start again without --resume") from None
        return position


@dataclass
class Outcome:
    position: Position
    interrupted: bool
    history: list  # (epoch, mean loss, training accuracy) per epoch finished by this run (accuracy None off rank 0)
    test_accuracy: float | None = None


class SigintFlag:
    """While active, the first SIGINT (Ctrl-C) only sets ``requested`` (the loop stops at the next step boundary);
    a second one raises KeyboardInterrupt as usual. Off the main thread, where Python delivers no signal, it does
    nothing."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


# -- output: every print and every file the run writes --------------------------------------------------------------

class Output:
    """The run's printing (lines flushed at once, so a pipe sees them), its progress bars and its files; of a
    data-parallel run's ``processes``, only rank 0 prints and writes (the others' Output does nothing)."""

    def __init__(self, progress: bool = True, log_every: int | None = None, stream=None,
                 processes: Processes = SINGLE):
        self.root = processes.root
        self.processes = processes.size
        self.progress = progress and tqdm is not None and self.root
        self.log_every = log_every
        self.stream = stream

    def line(self, text: str) -> None:
        if not self.root:
            return
        stream = self.stream or sys.stdout
        if self.progress:
            tqdm.write(text, file=stream)  # above the bar under way, which stays whole
            stream.flush()
        else:
            print(text, file=stream, flush=True)

    def epoch_bar(self, epoch: int, epochs: int, total: int, done: int):
        if not self.progress:
            return None
        return tqdm(total=total, initial=done, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False)

    def step_done(self, bar, position: Position, total: int, loss: float) -> None:
        if bar is not None:
            bar.update(1)
            if position.step % 10 == 0 or position.step == total:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        if self.log_every and position.step % self.log_every == 0:
            self.line(f"epoch {position.epoch} step {position.step}/{total}: loss {loss:.4f}")

    def epoch_done(self, bar, epoch: int, loss: float, accuracy: float | None) -> None:
        if bar is not None:
            bar.close()
        if self.root:  # (the other processes compute no accuracy)
            self.line(f"epoch {epoch}: loss {loss:.4f}, train accuracy {accuracy:.2%}")

    def finished(self, test_accuracy: float | None, examples: int, seconds: float,
                 first_step: float | None = None) -> None:
        """``examples``: those of every process, in ``seconds`` of training steps; ``first_step``: the seconds of
        this run's first step when it is left out of them (it compiles the step, or loads it from the cache)."""
        if not self.root:
            return
        where = f" on {self.processes} processes" if self.processes > 1 else ""
        first = f"first step {first_step:.2f} s, then " if first_step is not None else ""
        self.line(f"test accuracy {test_accuracy:.2%}; {first}{examples / max(seconds, 1e-9):.0f} training "
                  f"examples/sec{where}")

    def save_checkpoint(self, path: str, variables: list, metadata: dict) -> None:
        if not self.root:
            return
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        save_variables(path, variables, metadata)

    def save_graph(self, path: str, model, metadata: dict) -> None:
        if not self.root:
            return
        save(path, [model.logits, model.loss], [model.images, model.labels], metadata)


# -- the loop -------------------------------------------------------------------------------------------------------

class Trainer:
    """Epochs of ``step`` over shuffled minibatches of the training data, with per-epoch metrics and checkpoints.

    ``step(images, labels) -> loss`` applies one update; ``predict(images) -> logits``; ``variables`` are what a
    checkpoint holds (distinct names); ``seed`` seeds the data order. ``checkpoint_path`` None: no checkpoints, and
    Ctrl-C is not caught.

    Data-parallel over ``processes`` (more than one): ``step`` must average its gradients over them (its updates
    built with ``allreduce=processes.comm``); ``parameters`` are broadcast from rank 0 now (a collective: every
    process constructs its Trainer), each process then steps on its shard of every global batch of ``batch_size``,
    and only rank 0 computes accuracies (the others wait for it in their next step).
    """

    def __init__(self, step, predict, data: Data, batch_size: int, seed: int, output: Output, variables=(),
                 checkpoint_path: str | None = None, epoch_checkpoints: bool = False, run_config: dict | None = None,
                 roles: dict | None = None, model=None, processes: Processes = SINGLE, parameters=None):
        if processes.parallel:
            check_data_parallel_step(step, parameters, processes)
            processes.broadcast(parameters)
        self.processes = processes
        self.step, self.predict, self.data = step, predict, data
        self.batch_size, self.seed, self.output = batch_size, seed, output
        self.variables = list(variables)
        self.checkpoint_path = checkpoint_path
        self.epoch_checkpoints = epoch_checkpoints
        self.run_config = run_config or {}
        self.roles = roles or {}
        self.model = model
        self.steps_per_epoch = -(-len(data.train_labels) // batch_size)
        if self.steps_per_epoch == 0:
            raise CliError("the training set is empty")

    @classmethod
    def build(cls, config: dict, data: Data, backend: str, output: Output, checkpoint_dir: str,
              epoch_checkpoints: bool, processes: Processes = SINGLE) -> "Trainer":
        """The trainer of ``config`` (RUN_KEYS): the model, its optimizer's updates (data-parallel over
        ``processes``), the compiled step and predictor, and the checkpointed variables with their roles."""
        model = build_model(config["model"], data.train_images.shape[1:], config["seed"])
        optimizer = make_optimizer(config["optimizer"], config["lr"])
        updates = optimizer.updates(model.loss, model.parameters, allreduce=processes.comm)
        step = function([model.images, model.labels], model.loss, updates=updates, backend=backend)
        predict = function([model.images], model.logits, backend=backend)
        variables = checkpoint_variables(step)
        parameters = {id(v) for v in model.parameters}
        optimizer_state = {id(v) for v in updates if id(v) not in parameters}
        roles = {"parameters": [v.name for v in variables if id(v) in parameters],
                 "optimizer_state": [v.name for v in variables if id(v) in optimizer_state],
                 "random_streams_and_statistics": [v.name for v in variables
                                                   if id(v) not in parameters and id(v) not in optimizer_state]}
        return cls(step, predict, data, config["batch_size"], config["seed"], output, variables,
                   os.path.join(checkpoint_dir, CHECKPOINT_FILE), epoch_checkpoints, config, roles, model,
                   processes, model.parameters)

    # -- checkpoints

    def checkpoint(self, position: Position) -> None:
        metadata = {"run": {"format": RUN_FORMAT, "version": RUN_VERSION, **self.run_config},
                    "position": position.to_json(), "variables": self.roles}
        self.output.save_checkpoint(self.checkpoint_path, self.variables, metadata)

    def resume(self) -> Position:
        """Restore the variables from the checkpoint and return its position; CliError when there is none or it
        belongs to another run."""
        path = self.checkpoint_path
        if not os.path.exists(path):
            raise CliError(f"--resume: no checkpoint at {path} (a run writes one on Ctrl-C, and at each epoch's end "
                           f"with --checkpoint DIR)")
        run_entry = read_metadata(path).get("run")
        if not isinstance(run_entry, dict) or run_entry.get("format") != RUN_FORMAT:
            raise CliError(f"{path} is not a checkpoint written by symgraph train")
        if not isinstance(run_entry.get("version"), int) or run_entry["version"] > RUN_VERSION:
            raise CliError(f"{path} was written by a newer symgraph train (version {run_entry.get('version')!r})")
        for key in RUN_KEYS:
            if run_entry.get(key) != self.run_config[key]:
                option = "--" + key.replace("_", "-")
                raise CliError(f"{path} was written by a run with {option} {run_entry.get(key)}, this run has "
                               f"{option} {self.run_config[key]}: resume with the same {option}")
        metadata = load_variables(path, self.variables)
        position = Position.from_json(metadata.get("position"), path)
        if position.step >= self.steps_per_epoch:
            raise CliError(f"{path}: the checkpoint is at step {position.step} of an epoch of "
                           f"{self.steps_per_epoch} steps; start again without --resume")
        return position

    # -- training

    def fit(self, epochs: int, position: Position | None = None, interrupt=None) -> Outcome:
        """Train until ``epochs`` epochs are done in all, from ``position`` (a resumed checkpoint's) or the start;
        stop early at a step boundary when ``interrupt.requested`` (writing a checkpoint). Then the test accuracy."""
        order = np.random.default_rng(self.seed)
        if position is None:
            position = Position(1, 0, order.bit_generator.state)
        examples, seconds, history = 0, 0.0, []
        first_step = None  # (examples, seconds) of this run's first step: compiling, not training, is most of it
        images, labels = self.data.train_images, self.data.train_labels
        shard = (self.processes.rank, self.processes.size) if self.processes.parallel else None
        agreed_stop = False  # data-parallel: whether any process was asked to stop, as of the last step
        while position.epoch <= epochs:
            order.bit_generator.state = position.order_state
            batches = minibatches([images, labels], self.batch_size, order, shard=shard)  # draws the order now
            bar = self.output.epoch_bar(position.epoch, epochs, self.steps_per_epoch, position.step)
            for batch in islice(batches, position.step, None):
                if self._stopping(interrupt, agreed_stop):
                    return self._interrupted(bar, position, history)
                started = time.perf_counter()
                loss, count, agreed_stop = self._global_step(float(self.step(*batch)), len(batch[1]), interrupt)
                if first_step is None:
                    first_step = (count, time.perf_counter() - started)
                else:
                    seconds += time.perf_counter() - started
                    examples += count
                position.step += 1
                position.losses.append(loss)
                self.output.step_done(bar, position, self.steps_per_epoch, loss)
            train_accuracy = accuracy(self.predict, images, labels) if self.processes.root else None
            mean_loss = float(np.mean(position.losses))
            history.append((position.epoch, mean_loss, train_accuracy))
            position = Position(position.epoch + 1, 0, order.bit_generator.state)
            self.output.epoch_done(bar, history[-1][0], mean_loss, train_accuracy)
            if self.epoch_checkpoints:
                self.checkpoint(position)
            if self._stopping(interrupt, agreed_stop) and position.epoch <= epochs:
                return self._interrupted(None, position, history, written=self.epoch_checkpoints)
        test_accuracy = accuracy(self.predict, self.data.test_images, self.data.test_labels) \
            if self.processes.root else None
        if examples:
            self.output.finished(test_accuracy, examples, seconds, first_step[1])
        else:  # one step in all (or none, after a resumed run's last epoch)
            self.output.finished(test_accuracy, *(first_step or (0, 0.0)))
        return Outcome(position, False, history, test_accuracy)

    def _global_step(self, loss: float, count: int, interrupt) -> tuple[float, int, bool]:
        """(the loss over the global batch, its example count, whether any process was asked to stop) from this
        process's step on ``count`` examples: one allreduce of three numbers when data-parallel. (Alone: the loss
        and count as they are; whether to stop is read at the step boundary, by ``_stopping``.)"""
        if not self.processes.parallel:
            return loss, count, False
        asked = interrupt is not None and interrupt.requested
        weighted, examples, stops = self.processes.sum([loss * count if count else 0.0, count, float(asked)])
        return float(weighted / examples) if examples else float("nan"), int(examples), bool(stops)

    def _stopping(self, interrupt, agreed_stop: bool) -> bool:
        """Whether to stop at this step boundary: when asked (Ctrl-C), or data-parallel, when any process was as of
        the last step (so that all stop after the same step)."""
        if self.processes.parallel:
            return agreed_stop
        return interrupt is not None and interrupt.requested

    def _interrupted(self, bar, position: Position, history: list, written: bool = False) -> Outcome:
        if bar is not None:
            bar.close()
        if self.checkpoint_path is None:  # nowhere to save: stop as Ctrl-C does elsewhere
            raise KeyboardInterrupt
        if not written:
            self.checkpoint(position)
        return Outcome(position, True, history)


def check_data_parallel_step(step, parameters, processes: Processes) -> None:
    """ValueError unless a data-parallel ``step`` averages its gradients over the processes (else every process
    would train a model of its own on its shards) and ``parameters`` are given to start them identical."""
    if parameters is None:
        raise ValueError(f"Trainer: data-parallel on {processes.size} processes, but no parameters= to broadcast from "
                         f"rank 0 (pass the model's trainable variables)")
    if isinstance(step, Function):
        roots = list(step.outputs) + [value for _, value in step.updates]
        if not any(node.op.name == "allreduce" for node in toposort(roots)):
            raise ValueError(f"Trainer: data-parallel on {processes.size} processes, but the training step has no "
                             f"allreduce: build its updates with opt.updates(cost, params, allreduce=comm)")


def checkpoint_variables(step: Function) -> list:
    """Every variable ``step`` updates, checked now for the distinct names a checkpoint matches them by (rather
    than at the first checkpoint, after the work it should have saved)."""
    variables = [variable for variable, _ in step.updates]
    seen = {}
    for variable in variables:
        if variable.name is None or variable.name in seen:
            problem = "has no name" if variable.name is None else f"has the name of {seen[variable.name].describe()}"
            raise CliError(f"cannot checkpoint this training step: {variable.describe()} {problem}; every variable a "
                           f"checkpoint holds needs a distinct name")
        seen[variable.name] = variable
    return variables


def accuracy(predict, images, labels, batch_size: int = 1000) -> float:
    """The fraction of ``images`` whose largest logit is at their label, predicted ``batch_size`` at a time."""
    correct = 0
    for start in range(0, len(labels), batch_size):
        logits = predict(images[start:start + batch_size])
        correct += int(np.sum(np.argmax(logits, axis=1) == labels[start:start + batch_size]))
    return correct / max(len(labels), 1)
