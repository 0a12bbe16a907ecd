"""The `e2a` command line: a thin layer over book loading, planning, synthesis and export.

Every library error (`E2AError`) becomes a one-line `click.ClickException`; `-v` turns on debug
logs. Long work shows a progress bar with an ETA.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

from e2a_node.errors import E2AError
from e2a_node.audio.formats import DEFAULT_FORMAT, FORMAT_NAMES
from e2a_node.wire import DEFAULT_PORT

WORDS_PER_MINUTE = 155  # typical audiobook narration pace, for estimates only


class E2AGroup(click.Group):
    """A group that shows library errors as one clean line instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except E2AError as exc:
            raise click.ClickException(str(exc)) from exc
        except KeyboardInterrupt:
            # The command already said what was saved and how to resume.
            sys.exit(130)


@click.group(cls=E2AGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs.")
@click.version_option(package_name="e2a")
def main(verbose: bool) -> None:
    """Turn ebooks into audiobooks, offline, on one machine or a LAN cluster.

    \b
    Example:
      e2a convert book.epub            # -> book.m4b with chapters, next to the book
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def default_work_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("e2a")) / "jobs"


def key_file_option(f):
    return click.option("--key-file", type=click.Path(path_type=Path), envvar="E2A_CLUSTER_KEY_FILE",
                        help="The cluster key (see `e2a cluster init`). Default: ~/.config/e2a/cluster.key when "
                             "it exists. Env: E2A_CLUSTER_KEY_FILE.")(f)


def insecure_option(f):
    return click.option("--insecure", is_flag=True,
                        help="Without a cluster key, also use nodes on other machines, in plain text: anyone "
                             "on the network could read the book or pose as a node.")(f)


@main.command()
@click.argument("book", type=click.Path(path_type=Path, dir_okay=True))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file (or folder with --split-chapters). Default: next to the book.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMAT_NAMES), help=f"Output format. Default: from --output's extension, else {DEFAULT_FORMAT}.")
@click.option("--chapters", "chapter_spec", metavar="LIST", help="Only these chapters, as `e2a chapters` numbers them, e.g. 1-3,7 (default: all).")
@click.option("--all", "include_all", is_flag=True, help="Keep front/back matter (imprint, colophon, index, non-linear items).")
@click.option("--engine", default="piper", show_default=True, help="TTS engine: piper or coqui (see `e2a voices`).")
@click.option("--voice", help="Piper: .onnx file or voice name. Coqui/XTTS: reference clip to clone, or speaker name.")
@click.option("--model", help="Coqui model name, e.g. tts_models/multilingual/multi-dataset/xtts_v2.")
@click.option("--model-path", type=click.Path(path_type=Path), help="Coqui: local checkpoint folder with config.json.")
@click.option("--language", help="Language to read in (BCP 47, e.g. en, fr). Default: the book's.")
@click.option("--get-voice", is_flag=True, help="If no installed Piper voice speaks the language, download the recommended one first (see `e2a voices get`).")
@click.option("--device", default="cpu", show_default=True, help="Coqui: cpu, cuda or cuda:N.")
@click.option("--threads", type=click.IntRange(min=1), help="Inference threads per voice. Default: the cores shared among the slots (--deterministic Piper: 1).")
@click.option("--slots", type=click.IntRange(min=1), help="Voices speaking at once on this machine. Default: one per core (up to 4) for Piper, 1 for Coqui.")
@click.option("--deterministic", is_flag=True, help="Reproducible output, byte for byte (no sampling noise).")
@click.option("--split-chapters", is_flag=True, help="Write one file per chapter into a folder.")
@click.option("--bitrate", help="Audio bitrate for lossy formats, e.g. 64k.")
@click.option("--work-dir", type=click.Path(path_type=Path), envvar="E2A_WORK_DIR", help="Where job folders (per-sentence audio, for resuming) live. Env: E2A_WORK_DIR.")
@click.option("--fresh", is_flag=True, help="Discard audio saved by an earlier run of this job and start over.")
@click.option("--keep-audio", is_flag=True, help="Keep the job folder after success (re-exports then skip synthesis).")
@click.option("--cluster", metavar="auto|HOST:PORT,...", help="Share the work with e2a nodes: `auto` finds them over mDNS; or list them.")
@click.option("--no-local", is_flag=True, help="With --cluster: this machine only coordinates; the nodes do all the speaking.")
@click.option("--report", type=click.Path(path_type=Path), help="Write a JSON report: wall time, who synthesized what, steals, failures.")
@click.option("--mdns-interface", metavar="ADDR", envvar="E2A_MDNS_INTERFACE", help="Browse mDNS only on the interface with this address. Env: E2A_MDNS_INTERFACE.")
@click.option("--trace", type=click.Path(path_type=Path), help="Write every scheduling event and decision as JSON lines (replay: scripts/replay_trace.py).")
@click.option("--verify-peers/--no-verify-peers", default=None,
              help="Make ~2% of each peer's sentences again elsewhere and compare the bytes; a peer whose audio "
                   "differs is dropped and all its sentences made again. Default: on with --deterministic.")
@key_file_option
@insecure_option
def convert(book: Path, output: Path | None, fmt: str | None, chapter_spec: str | None, include_all: bool,
            engine: str, voice: str | None, model: str | None, model_path: Path | None, language: str | None,
            get_voice: bool, device: str, threads: int | None, slots: int | None, deterministic: bool, split_chapters: bool, bitrate: str | None,
            work_dir: Path | None, fresh: bool, keep_audio: bool, cluster: str | None, no_local: bool,
            report: Path | None, mdns_interface: str | None, trace: Path | None, verify_peers: bool | None,
            key_file: Path | None, insecure: bool) -> None:
    """Convert BOOK (EPUB, TXT, HTML; others via Calibre) into an audiobook.

    An interrupted run resumes where it stopped when you run the same command again.

    \b
    Examples:
      e2a convert book.epub
      e2a convert book.epub -o out.mp3 --chapters 1-3,7
      e2a convert roman.epub --get-voice                 # fetches a French voice if none is installed
      e2a convert book.epub --engine coqui --model tts_models/multilingual/multi-dataset/xtts_v2 --voice me.wav --language en
      e2a convert book.epub --cluster auto --report run.json
      e2a convert book.epub --cluster 10.0.0.5:50051,10.0.0.7:50051 --no-local
    """
    from e2a_node.convert import ConvertRequest, run_convert

    if no_local and not cluster:
        raise click.UsageError("--no-local needs --cluster")
    from e2a_node.synth.base import VoiceSettings

    settings = VoiceSettings(
        engine=engine, voice=voice, model=model, model_path=str(model_path) if model_path else None,
        language=language, device=device, threads=threads, deterministic=deterministic,
    )
    request = ConvertRequest(
        book=book, output=output, fmt=fmt, chapter_spec=chapter_spec, include_all=include_all,
        settings=settings, split_chapters=split_chapters, bitrate=bitrate,
        work_dir=work_dir or default_work_dir(), fresh=fresh, keep_audio=keep_audio,
        cluster=cluster, use_local=not no_local, report=report, mdns_interface=mdns_interface, slots=slots,
        key_file=key_file, insecure=insecure, verify_peers=verify_peers, trace=trace,
        get_voice=_get_voice_for_language if get_voice else None,
        # a harness may pass another scheduler in the context (scripts/bench_leader.py)
        **(click.get_current_context().find_object(dict) or {}),
    )
    run_convert(request, ui=ClickUI())


@main.command()
@click.argument("book", type=click.Path(path_type=Path))
@click.option("--all", "include_all", is_flag=True, help="Also list front/back matter that convert skips by default.")
def chapters(book: Path, include_all: bool) -> None:
    """List the chapters of BOOK with their numbers, for `convert --chapters`.

    \b
    Example:
      e2a chapters book.epub
    """
    from e2a_node.book import load_book

    b = load_book(book, include_all=include_all)
    click.echo(f"{b.title}" + (f" — {', '.join(b.authors)}" if b.authors else "") + (f" [{b.language}]" if b.language else ""))
    width = len(str(len(b.chapters)))
    for n, ch in enumerate(b.chapters, start=1):
        minutes = ch.words / WORDS_PER_MINUTE
        click.echo(f"{n:>{width}}  {ch.title[:60]:<60}  {ch.words:>7,} words  ~{minutes:5.1f} min")
    click.echo(f"{len(b.chapters)} chapters, {b.words:,} words, ~{b.words / WORDS_PER_MINUTE / 60:.1f} h of audio")
    if b.skipped and not include_all:
        click.echo(f"skipped (use --all to keep): {', '.join(b.skipped)}")
    for line in b.warnings:
        click.echo(f"Warning: {line}", err=True)


def _get_voice_for_language(tag: str) -> None:
    """`convert --get-voice`: install the recommended Piper voice for language `tag`."""
    from e2a_node.synth import languages
    from e2a_node.voices import catalog

    try:
        found = catalog.fetch_catalog()
    except E2AError as e:
        raise click.ClickException(f"--get-voice could not get a voice for {languages.describe(tag)} "
                                   f"({languages.recommended_piper_voice(tag) or 'any'}): {e}") from None
    voice = catalog.recommended(found, tag)
    if voice is None:
        raise click.ClickException(f"--get-voice: the Piper catalog {found.url} has no voice for "
                                   f"{languages.describe(tag)}")
    click.echo(f"No Piper voice for {languages.describe(tag)} installed: getting {voice.key}.", err=True)
    _install_voice(found, voice.key, err=True)


def _install_voice(found, key: str, err: bool = False) -> None:
    """Download catalog voice `key` with a progress bar (bytes, ETA), then say where it went."""
    from e2a_node.voices import catalog

    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=max(total, 1), label=f"Downloading {key}", file=sys.stderr,
                                    show_eta=True, show_percent=True, item_show_func=lambda text: text, width=24)
            bar.__enter__()
        bar.update(done - bar.pos, current_item=f"{done / 1e6:.1f}/{total / 1e6:.1f} MB")

    try:
        result = catalog.download_voice(key, progress=progress, catalog=found)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    where = result.model_path.parent
    if result.downloaded:
        click.echo(f"Installed {key} ({result.voice.size_bytes / 1e6:.1f} MB) in {where}", err=err)
    else:
        click.echo(f"{key} is already installed in {where}", err=err)


@main.group(invoke_without_command=True)
@click.pass_context
def voices(ctx: click.Context) -> None:
    """List the voices here, or get Piper voices from the catalog.

    Run bare, it lists the engines and voices installed here.

    \b
    Examples:
      e2a voices
      e2a voices list --remote fr        # French Piper voices to download
      e2a voices get fr_FR-siwis-medium
    """
    if ctx.invoked_subcommand is None:
        _list_local_voices(None)


def _list_local_voices(language: str | None) -> None:
    from e2a_node.synth import all_voices, languages

    found = all_voices()
    if language:
        want = languages.base(language)
        found = [v for v in found if languages.base(v.language) == want]
    for v in found:
        click.echo(f"{v.engine:<7} {v.name:<40} {v.language:<7} {v.description}")
    if not found:
        click.echo("no voices found" + (f" for {languages.describe(language)}" if language else ""))
    if language:
        return
    from e2a_node.synth import coqui

    if not coqui.available():
        click.echo("\ncoqui: not installed (pip install 'e2a[coqui]') - adds XTTS voice cloning and Coqui models.")
    elif not any(v.engine == "coqui" for v in found):
        click.echo("\ncoqui: installed, no models downloaded yet. `e2a convert BOOK --engine coqui --model "
                   "tts_models/multilingual/multi-dataset/xtts_v2 --voice clip.wav` fetches one.")
    click.echo("\nMore Piper voices: `e2a voices list --remote [LANG]` lists them, `e2a voices get NAME` installs one.")


@voices.command("list")
@click.argument("language", required=False, metavar="[LANG]")
@click.option("--remote", is_flag=True, help="List the Piper voice catalog (downloadable voices) instead of this machine's voices.")
def voices_list(language: str | None, remote: bool) -> None:
    """List voices here, or in the Piper catalog with --remote.

    With LANG, only those speaking it (fr: any French voice, fr_FR: France's).

    The catalog is rhasspy/piper-voices, or the base URL in $E2A_VOICE_CATALOG.

    \b
    Examples:
      e2a voices list
      e2a voices list --remote fr
    """
    if not remote:
        _list_local_voices(language)
        return
    from e2a_node.synth import languages
    from e2a_node.voices import catalog

    found = catalog.fetch_catalog()
    matching = found.for_language(language)
    for v in matching:
        mark = "installed" if catalog.is_installed(v) else ""
        click.echo(f"{v.key:<40} {v.language:<7} {v.language_name[:20]:<20} {v.quality:<7} "
                   f"{v.size_bytes / 1e6:7.1f} MB  {mark}".rstrip())
    if not matching:
        what = f" for {languages.describe(language)}" if language else ""
        click.echo(f"no voices in {found.url}{what}")
        return
    click.echo(f"{len(matching)} voice{'s' if len(matching) != 1 else ''}; install one with `e2a voices get NAME`.")


@voices.command("get")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
def voices_get(names: tuple[str, ...]) -> None:
    """Download Piper voices from the catalog.

    Each voice's size and MD5 are checked before it is installed in the voices folder.
    The folder is ~/.local/share/e2a/voices, or $E2A_VOICES_DIR; a voice already there is skipped.

    \b
    Example:
      e2a voices get fr_FR-siwis-medium de_DE-thorsten-medium
    """
    from e2a_node.voices import catalog

    found = catalog.fetch_catalog()
    for name in names:
        found.find(name)  # every name checked before anything is downloaded
    for name in names:
        _install_voice(found, name)


@main.group()
def cluster() -> None:
    """Look at the e2a nodes on the network."""


@cluster.command("init")
@key_file_option
@click.option("--force", is_flag=True, help="Replace an existing key (this machine then leaves its old cluster).")
def cluster_init(key_file: Path | None, force: bool) -> None:
    """Create this cluster's secret key, and print how to give it to the other machines.

    Every node and leader holding the key talks to the others over mutual TLS; nodes without
    it are not used, and they can't use yours.

    \b
    Example:
      e2a cluster init          # then, on each other machine: e2a cluster join e2a-key-1:...
    """
    from e2a_node.clusterkey import ClusterKey, default_key_path, read_key_file, write_key_file

    path = key_file or default_key_path()
    if path.exists() and not force:
        key = read_key_file(path)
        click.echo(f"{path} already holds the cluster key {key.fingerprint} (use --force to make a new one).")
    else:
        key = ClusterKey.generate()
        write_key_file(key, path, force=force)
        click.echo(f"Created the cluster key {key.fingerprint} in {path}.")
    click.echo("On each other machine of the cluster, run:\n\n"
               f"  e2a cluster join {key.token}\n\n"
               f"(or copy {path} to the same place there). Keep it secret: whoever has it can use your nodes.")


@cluster.command("join")
@click.argument("token")
@key_file_option
@click.option("--force", is_flag=True, help="Replace a different key already on this machine.")
def cluster_join(token: str, key_file: Path | None, force: bool) -> None:
    """Store the cluster key TOKEN (printed by `e2a cluster init`) on this machine; `-` reads it from stdin.

    \b
    Example:
      e2a cluster join e2a-key-1:q0vW...
    """
    from e2a_node.clusterkey import ClusterKey, default_key_path, write_key_file

    if token == "-":
        token = click.get_text_stream("stdin").readline()
    key = ClusterKey.from_token(token)
    path = write_key_file(key, key_file or default_key_path(), force=force)
    click.echo(f"Joined cluster {key.fingerprint}: key saved in {path}. Restart `e2a-node serve` here to use it.")


@cluster.command("ls")
@click.option("--cluster", "spec", default="auto", show_default=True, metavar="auto|HOST:PORT,...", help="Find nodes over mDNS, or ask these.")
@click.option("--wait", default=2.0, show_default=True, help="Seconds to listen for mDNS announcements.")
@click.option("--mdns-interface", metavar="ADDR", envvar="E2A_MDNS_INTERFACE", help="Browse only on the interface with this address.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@key_file_option
@insecure_option
def cluster_ls(spec: str, wait: float, mdns_interface: str | None, as_json: bool, key_file: Path | None,
               insecure: bool) -> None:
    """List the nodes found: name, address, engines and voices, device, slots, speed, busy/free.

    \b
    Examples:
      e2a cluster ls
      e2a cluster ls --cluster 10.0.0.5:50051 --json
    """
    import json

    from e2a_node.cluster_status import describe, list_nodes

    from e2a_node.clusterkey import ClusterAccess, load_key

    rows = list_nodes(spec, wait, mdns_interface, ClusterAccess(load_key(key_file), insecure, name="e2a cluster ls"))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no e2a nodes found" + (" (is `e2a-node serve` running, and mDNS allowed on this network?)" if spec == "auto" else ""))
        return
    for r in rows:
        click.echo(describe(r))


@click.group(cls=E2AGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs.")
@click.version_option(package_name="e2a")
def node_main(verbose: bool) -> None:
    """Run an e2a cluster node on this machine.

    \b
    Example:
      e2a-node serve
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@node_main.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535), help="gRPC port (0 = any free port).")
@click.option("--name", help=f"Name shown to leaders and in `e2a cluster ls`. Default: the host name (plus the port if not {DEFAULT_PORT}).")
@click.option("--engine", "engines", multiple=True, help="Only offer these engines (default: every installed one).")
@click.option("--device", default="cpu", show_default=True, help="Where coqui models run: cpu, cuda or cuda:N.")
@click.option("--slots", type=click.IntRange(min=1), help="Sentences this node speaks at once, one loaded voice each. Default: one per core (up to 4) on cpu, 1 on a GPU.")
@click.option("--threads", type=click.IntRange(min=1), help="Inference threads per slot. Default: the cores shared out among the slots.")
@click.option("--mdns/--no-mdns", default=True, show_default=True, help="Announce this node over mDNS (_e2a._tcp).")
@click.option("--mdns-interface", metavar="ADDR", envvar="E2A_MDNS_INTERFACE", help="Announce only on the interface with this address. Env: E2A_MDNS_INTERFACE.")
@click.option("--state-dir", type=click.Path(path_type=Path), envvar="E2A_STATE_DIR", help="Where the node keeps its id and cached voice clips.")
@click.option("--allow-model-dir", "allow_model_dirs", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Let leaders name coqui model folders (--model-path) inside DIR; repeatable. Default: none, "
                   "leaders name voices and models only.")
@click.option("--voice-store-limit", default="20G", show_default=True, metavar="SIZE",
              help="Room for voices leaders send this node (kept in the state dir, least recently used go "
                   "first), e.g. 500M, 20G.")
@click.option("--voice-upload-rate", default="0", show_default=True, metavar="SIZE",
              help="Send voices to other nodes at most this fast, bytes a second (e.g. 5M on a slow link; "
                   "0: no limit).")
@key_file_option
@click.option("--insecure", is_flag=True,
              help="Without a cluster key, listen on a non-loopback address anyway: any host that reaches the port "
                   "can use this node and read the books it is sent.")
def serve(host: str, port: int, name: str | None, engines: tuple[str, ...], device: str, slots: int | None,
          threads: int | None, mdns: bool, mdns_interface: str | None, state_dir: Path | None,
          allow_model_dirs: tuple[Path, ...], voice_store_limit: str, voice_upload_rate: str, key_file: Path | None,
          insecure: bool) -> None:
    """Serve this machine's voices to e2a leaders on the LAN until Ctrl-C.

    With the cluster key (`e2a cluster init` / `join`), only machines holding it get in (mutual
    TLS). Without one the node listens on loopback only, unless --insecure.

    \b
    Examples:
      e2a-node serve
      e2a-node serve --host 127.0.0.1                      # this machine only, no key needed
      e2a-node serve --engine coqui --device cuda:1 --port 50052 --name gpu1
      e2a-node serve --engine coqui --allow-model-dir ~/models
      e2a-node serve --voice-store-limit 5G
    """
    from e2a_node.serve import ServeOptions, run_node
    from e2a_node.voices.store import parse_size

    try:
        store_bytes = parse_size(voice_store_limit)
    except ValueError as exc:
        raise click.ClickException(f"--voice-store-limit: {exc}") from None
    try:
        upload_rate = parse_size(voice_upload_rate)
    except ValueError as exc:
        raise click.ClickException(f"--voice-upload-rate: {exc}") from None

    from e2a_node.node import default_slots

    run_node(ServeOptions(host=host, port=port, name=name, engines=list(engines), device=device,
                          slots=slots or default_slots(device, engines[0] if len(engines) == 1 else "piper"),
                          threads=threads, mdns=mdns, mdns_interface=mdns_interface, state_dir=state_dir,
                          allow_model_dirs=list(allow_model_dirs), voice_store_bytes=store_bytes,
                          voice_upload_rate=upload_rate, key_file=key_file, insecure=insecure))


class ClickUI:
    """Progress and messages for a convert run, drawn with click."""

    def __init__(self) -> None:
        self.bar = None
        self.nodes = ""

    def info(self, message: str) -> None:
        click.echo(message, err=True)

    def start(self, total_chars: int, total_segments: int, done_segments: int) -> None:
        self.total_segments = total_segments
        self.done = done_segments
        self.audio_s = 0.0
        self.t0 = time.monotonic()
        self.bar = click.progressbar(length=max(total_chars, 1), label="Synthesizing", file=sys.stderr,
                                     show_eta=True, show_percent=True, item_show_func=self._describe, width=24)
        self.bar.__enter__()

    def _describe(self, _item) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        text = f"{self.done}/{self.total_segments} sentences, {self.audio_s / 60:.1f} min audio, {self.audio_s / elapsed:.1f}x"
        return f"{text} [{self.nodes}]" if self.nodes else text

    def status(self, text: str) -> None:
        """Per-node shares and speeds in cluster mode, shown after the totals."""
        self.nodes = text
        if self.bar is not None:
            self.bar.render_progress()

    def advance(self, chars: int, audio_s: float) -> None:
        self.done += 1
        self.audio_s += audio_s
        self.bar.update(chars, current_item=self.done)

    def retract(self, chars: int, audio_s: float) -> None:
        """A sentence's audio was thrown away (its node was caught lying): it is made again."""
        self.done -= 1
        self.audio_s -= audio_s
        self.bar.pos = max(0, self.bar.pos - chars)
        self.bar.render_progress()

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


if __name__ == "__main__":  # pragma: no cover
    main()
