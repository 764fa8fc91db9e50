"""sign, keyless (``mode = "keyless"``): Sigstore with the GitHub Actions job's OIDC token.

The job's token (``id-token: write``, which ``gopipe init --github`` grants to the job that
signs and to no other) gets an ephemeral key a Fulcio certificate naming the workflow
(identity ``https://github.com/OWNER/REPO/.github/workflows/gopipe-cd.yml@REF``, issuer
``https://token.actions.githubusercontent.com``); every signature is logged in Rekor.
sigstore-python does all of it (:mod:`gopipe_plugins._common.keyless`).

- Files (``blobs``): ``<file>.sigstore.json``, the Sigstore bundle, for ``cosign
  verify-blob --bundle`` and ``sigstore verify github``.
- The ``provenance`` provider's statements about files (binaries, archives, packages):
  ``<stem>.intoto.sigstore.json`` beside each, a DSSE bundle for ``cosign
  verify-blob-attestation --bundle … --type slsaprovenance1 <file>``.
- Images: the index and each platform manifest get cosign's simple-signing payload signed,
  stored as a layer of ``<repo>:sha256-<hex>.sig`` with the certificate and Rekor entry in
  cosign's annotations (``cosign verify --certificate-identity … --certificate-oidc-issuer …``).

- Attestations, as the key path attaches them: the ``provenance`` provider's SLSA statement
  about the index (it needs no key then) and a CycloneDX statement per platform manifest,
  each signed as DSSE (a Rekor ``dsse`` entry), stored as layers of ``sha256-<hex>.att``
  with the same annotations (``cosign verify-attestation --type slsaprovenance1|cyclonedx``).
- cosign v3's form as well: Sigstore bundles as OCI 1.1 referrers of each manifest (the
  referrers API, or the referrers tag schema on a registry without it): a signed
  ``https://sigstore.dev/cosign/sign/v1`` statement about the digest (its own Rekor entry)
  and each attestation's bundle. Deploy's ``require_signed`` with ``certificate_identity``
  checks these (:mod:`gopipe_plugins._common.keyless_verify`).

Outside Actions, or in a job without ``id-token: write``, this is a config error (exit 2)
before anything is signed. A failure reaching Sigstore fails the stage with one masked line.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from gopipe.artifacts import Artifact
from gopipe.config import Config
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, StageFailed
from gopipe.paths import artifact_file
from gopipe_oci import RegistryClient, RegistryError, referrers
from gopipe_plugins._common import cosign_sig, dsse, keyless, sigstore_bundle
from gopipe_plugins._common.provenance import PREDICATE_TYPE, STATEMENT_TYPE
from gopipe_plugins._common.registry_access import connect, credentials, library_logs, register_tokens

if TYPE_CHECKING:
    from gopipe_plugins.upload.sign import SignOptions

CONFIG_KEY = "tool.gopipe.upload.sign"


def check_identity_options(file: str, identity: str | None, issuer: str) -> None:
    """``identity``/``issuer`` are what a consumer passes to ``cosign verify``: https URLs."""
    if not keyless.HTTPS_URL.fullmatch(issuer):
        raise ConfigError(
            file, f"{CONFIG_KEY}.issuer", f"{issuer!r} is not an https URL", keyless.GITHUB_ISSUER
        )
    if identity is not None and not (keyless.HTTPS_URL.fullmatch(identity) and "@" in identity):
        fix = "https://github.com/OWNER/REPO/.github/workflows/gopipe-cd.yml@refs/tags/v1.2.3"
        raise ConfigError(file, f"{CONFIG_KEY}.identity", f"{identity!r} is not a workflow@ref URL", fix)


def preflight(config: Config, opts: SignOptions) -> None:
    """The keyless options that need no environment, checked before any stage runs (so a
    typo costs no build). Whether this is an Actions job with ``id-token: write`` is checked
    when signing: ``gopipe check`` runs this on a laptop too."""
    if opts.mode != "keyless":
        return
    file = config.display_file
    check_identity_options(file, opts.identity, opts.issuer)
    if opts.key is not None:
        fix = 'remove key, or mode = "keyless"'
        raise ConfigError(
            file, f"{CONFIG_KEY}.key", 'a key is set but mode = "keyless" signs without one', fix
        )


def run_keyless(ctx: ProviderContext[SignOptions]) -> None:
    opts = ctx.options
    file = ctx.config.display_file
    preflight(ctx.config, opts)
    trust_file = ctx.repo_path(opts.trust_config, "trust_config") if opts.trust_config else None
    if trust_file is not None and not trust_file.is_file():
        raise ConfigError(file, f"{CONFIG_KEY}.trust_config", f"{opts.trust_config}: no such file")
    expected = keyless.workflow_identity(ctx.env, opts.issuer)
    if opts.identity is not None and expected is not None and expected.identity != opts.identity:
        raise ConfigError(
            file,
            f"{CONFIG_KEY}.identity",
            f"this job signs as {expected.identity}, not {opts.identity}",
            "sign from the workflow and ref the identity names, or change identity",
        )
    try:
        token = keyless.actions_identity_token(ctx.env, ctx.add_secret, ctx.redact, issuer=opts.issuer)
    except keyless.KeylessUsageError as exc:
        raise ConfigError(
            file, f"{CONFIG_KEY}.mode", str(exc), "run it in the cd job gopipe init --github generates"
        ) from None
    except keyless.KeylessError as exc:
        raise StageFailed(str(exc)) from None
    try:
        config = keyless.trust_config(opts.sigstore, trust_file, ctx.redact)
        fulcio, rekor = keyless.signing_services(config)
        ctx.log(f"keyless: Fulcio {fulcio}, Rekor {rekor}, token issuer {token.issuer}")
        with keyless.keyless_signer(config, token, ctx.redact) as signer:
            files = [
                _sign_file(ctx, a, signer, expected)
                for kind in opts.blobs
                for a in ctx.artifacts.of_kind(kind)
                if a.path
            ]
            statements = [
                _sign_provenance(ctx, a, signer, expected)
                for a in ctx.artifacts.of_kind("provenance")
                if a.path and a.extra.get("of") != "image"  # an image's goes to its registry
            ]
            manifests = _sign_images(ctx, signer, expected) if opts.images else 0
    except keyless.KeylessError as exc:
        raise StageFailed(str(exc)) from None
    parts = [f"{len(files)} file{'s' * (len(files) != 1)}"]
    if statements:
        parts.append(f"{len(statements)} provenance statement{'s' * (len(statements) != 1)}")
    if opts.images:
        parts.append(f"{manifests} image manifest{'s' * (manifests != 1)}")
    ctx.summary = "signed keyless " + ", ".join(parts)


def _identity_extra(expected: keyless.Identity | None) -> dict[str, Any]:
    return {"identity": expected.identity, "issuer": expected.issuer} if expected else {}


def _sign_file(
    ctx: ProviderContext[SignOptions], artifact: Artifact, signer: keyless.KeylessSigner, expected: Any
) -> str:
    path = artifact_file(ctx.root, artifact)
    out = ctx.dist_path(os.path.relpath(path.with_name(path.name + keyless.BUNDLE_SUFFIX), ctx.dist), "blobs")
    data = path.read_bytes()
    out.write_text(signer.sign_blob(data) + "\n", encoding="utf-8")
    ctx.add_artifact(
        "signature",
        out.name,
        out,
        of=artifact.name,
        scheme="sigstore-bundle",
        signed_sha256=cosign_sig.payload_digest(data).removeprefix("sha256:"),
        **_identity_extra(expected),
    )
    return out.name


def _sign_provenance(
    ctx: ProviderContext[SignOptions], artifact: Artifact, signer: keyless.KeylessSigner, expected: Any
) -> str:
    """The ``provenance`` provider's statement about a file, signed keyless as DSSE: its
    Sigstore bundle ``<stem>.intoto.sigstore.json`` beside it, for ``cosign
    verify-blob-attestation --bundle … --type slsaprovenance1 <file>``."""
    path = artifact_file(ctx.root, artifact)
    name = path.name.removesuffix(".json") + keyless.BUNDLE_SUFFIX
    out = ctx.dist_path(os.path.relpath(path.with_name(name), ctx.dist), "provenance")
    statement = dsse.canonical(json.loads(path.read_text(encoding="utf-8")))
    out.write_text(signer.sign_statement(statement) + "\n", encoding="utf-8")
    extra = {k: v for k, v in artifact.extra.items() if k in ("subject", "subject_sha256", "of")}
    ctx.add_artifact(
        "attestation", out.name, out, scheme="sigstore-bundle", **extra, **_identity_extra(expected)
    )
    return out.name


def _sign_images(ctx: ProviderContext[SignOptions], signer: keyless.KeylessSigner, expected: Any) -> int:
    from gopipe_plugins.upload import sign  # the key path's image discovery, shared

    refs = sign.pushed_images(ctx)
    count = 0
    with library_logs(ctx):
        for ref in refs:
            count += _sign_image(ctx, ref, signer, expected)
    return count


def _sign_image(
    ctx: ProviderContext[SignOptions],
    ref: Artifact,
    signer: keyless.KeylessSigner,
    expected: Any,
) -> int:
    from gopipe_plugins.upload import sign

    host = str(ref.extra.get("registry") or "")
    repository = str(ref.extra.get("repository") or "")
    digest = str(ref.extra.get("digest") or "")
    if not host or not repository.startswith(host + "/") or not digest.startswith("sha256:"):
        raise StageFailed(f"image-ref {ref.name} names no registry, repository and digest to sign")
    repo = repository[len(host) + 1 :]
    with connect(ctx, ctx.options, host, credentials(ctx, ctx.options)) as client:
        try:
            platforms: dict[str, str] = sign.platform_manifests(client, repo, digest)
            targets = [digest, *platforms]
            for target in targets:
                if expected is not None and _signed_as(client, repo, repository, target, expected):
                    continue  # a rerun: this workflow@ref signed it already, no new Rekor entry
                layer, _bundle = signer.sign_image(repository, target)
                _add_signature_layer(client, repo, repository, target, layer)
            statements = _statements(ctx, ref, repository, digest, platforms)
            attested: dict[str, list[tuple[str, str]]] = {}
            for target, items in statements.items():
                signed = [(_bundle_of(signer, s), p) for s, p in items]
                _store_attestations(client, repo, target, [_layer(b, p) for b, p in signed], expected)
                attested[target] = [(json.dumps(b), p) for b, p in signed]
            for target in targets:
                _attach_bundles(
                    ctx, client, repo, repository, target, signer, attested.get(target, []), expected
                )
        except (RegistryError, OSError, ValueError) as exc:
            raise StageFailed(f"signing {repository}@{digest[:19]}: {exc}") from None
        finally:
            register_tokens(ctx, client)
    for target, items in statements.items():
        for _statement, predicate in items:
            ctx.add_artifact(
                "image-attestation",
                f"{ref.name}@{target[:19]}",
                reference=f"{repository}:{cosign_sig.sig_tag(target, 'att')}",
                attests=f"{repository}@{target}",
                predicate_type=predicate,
                scheme="cosign-tag-keyless",
                **_identity_extra(expected),
            )
    sign.record_signatures(ctx, ref, repository, targets, "cosign-tag-keyless", _identity_extra(expected))
    return len(targets)


def _signed_as(
    client: RegistryClient, repo: str, repository: str, target: str, expected: keyless.Identity
) -> bool:
    """Whether ``target``'s ``.sig`` image has a keyless signature of its payload whose
    certificate names ``expected`` (the same workflow at the same ref)."""
    tag = cosign_sig.sig_tag(target)
    if client.head_manifest(repo, tag) is None:
        return False
    payload = cosign_sig.payload_digest(cosign_sig.simple_signing_payload(repository, target))
    for layer in json.loads(client.get_manifest(repo, tag).data).get("layers") or []:
        notes = layer.get("annotations") or {}
        pem = notes.get(keyless.CERTIFICATE_ANNOTATION)
        if layer.get("digest") == payload and pem and keyless.certificate_identity(str(pem)) == expected:
            return True
    return False


def _add_signature_layer(
    client: RegistryClient, repo: str, repository: str, target: str, layer: dict[str, Any]
) -> None:
    """Append ``layer`` to ``target``'s ``sha256-<hex>.sig`` image, keeping every other signer's."""
    payload = cosign_sig.simple_signing_payload(repository, target)
    tag = cosign_sig.sig_tag(target)
    layers: list[dict[str, Any]] = []
    if client.head_manifest(repo, tag) is not None:
        layers = [dict(x) for x in json.loads(client.get_manifest(repo, tag).data).get("layers") or []]
    layers.append(layer)
    manifest, config = cosign_sig.signature_manifest(layers)
    client.upload_blob(repo, cosign_sig.payload_digest(payload), payload)
    client.upload_blob(repo, cosign_sig.payload_digest(config), config)
    client.put_manifest(repo, tag, manifest, cosign_sig.OCI_MANIFEST)


def _bundle_of(signer: keyless.KeylessSigner, statement: bytes) -> dict[str, Any]:
    return dict(json.loads(signer.sign_statement(statement)))


def _layer(bundle: dict[str, Any], predicate: str) -> tuple[bytes, dict[str, Any]]:
    return keyless.attestation_layer(bundle, predicate)


def _attach_bundles(
    ctx: ProviderContext[SignOptions],
    client: RegistryClient,
    repo: str,
    repository: str,
    target: str,
    signer: keyless.KeylessSigner,
    attestations: list[tuple[str, str]],
    expected: keyless.Identity | None,
) -> None:
    """cosign v3's keyless form besides the tag scheme: Sigstore bundles as OCI 1.1 referrers
    of ``target`` (the referrers API or its tag schema) — a signed ``cosign/sign/v1``
    statement about the digest and each attestation's bundle (the same Rekor entry as its
    ``.att`` layer). Once per identity and predicate type: a rerun adds no second one."""
    from gopipe_plugins.upload import sign

    fetched = client.get_manifest(repo, target)
    subject = {"mediaType": fetched.media_type, "digest": target, "size": len(fetched.data)}
    listed, api = referrers.list_referrers(client, repo, target)
    mine = expected.identity if expected is not None else None
    present = {
        sign.referrer_kind(m)
        for m in listed
        if mine is not None and sign.annotation(m, cosign_sig.IDENTITY_ANNOTATION) == mine
    }
    notes = {cosign_sig.IDENTITY_ANNOTATION: mine} if mine is not None else {}
    wanted = [(None, sigstore_bundle.SIGN_PREDICATE), *attestations]
    for bundle, predicate in wanted:
        if f"bundle:{predicate}" in present:
            continue
        if bundle is None:
            bundle = signer.sign_statement(sigstore_bundle.signature_statement(target, repository))
        data = bundle.encode()
        sign.attach_bundle(ctx, client, repo, repository, subject, data, predicate, notes, api)


def _statements(
    ctx: ProviderContext[SignOptions],
    ref: Artifact,
    repository: str,
    digest: str,
    platforms: dict[str, str],
) -> dict[str, list[tuple[bytes, str]]]:
    """The in-toto statements to attest keyless, by manifest digest, as the key path attaches
    them: the index gets the provenance provider's SLSA statement (unsigned: with keyless it
    needs no key), each platform manifest a CycloneDX statement of its binary's SBOM."""
    found: dict[str, list[tuple[bytes, str]]] = {}
    for prov in _provenance_statements(ctx, ref.name):
        doc_ = json.loads(artifact_file(ctx.root, prov).read_text(encoding="utf-8"))
        found.setdefault(digest, []).append((dsse.canonical(doc_), PREDICATE_TYPE))
    sboms = [a for a in ctx.artifacts.of_kind("sbom") if a.path]
    of_image = [a for a in sboms if a.extra.get("binary") == ref.name]
    if not of_image and len(ctx.artifacts.of_kind("image-ref")) == 1:
        of_image = sboms
    by_platform = {plat: target for target, plat in platforms.items()}
    for sbom in of_image:
        target = by_platform.get(f"{sbom.os}/{sbom.arch}") if platforms else digest
        if target is None:
            continue
        bom = json.loads(artifact_file(ctx.root, sbom).read_text(encoding="utf-8"))
        statement = {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": repository, "digest": {"sha256": target.removeprefix("sha256:")}}],
            "predicateType": cosign_sig.CYCLONEDX_PREDICATE,
            "predicate": bom,
        }
        found.setdefault(target, []).append((dsse.canonical(statement), cosign_sig.CYCLONEDX_PREDICATE))
    return found


def _provenance_statements(ctx: ProviderContext[SignOptions], image: str) -> list[Artifact]:
    """The provenance provider's statement about ``image``, once it has written it."""

    def mine() -> list[Artifact]:
        return [
            a
            for a in ctx.artifacts.of_kind("provenance")
            if a.extra.get("of") == "image" and a.extra.get("subject") == image and a.path
        ]

    if "provenance" not in ctx.config.stage("upload").providers:
        return []
    found = mine()  # sign runs after provenance (``Uploader(after=...)``): it is there or absent
    if not found:
        raise StageFailed(f"the provenance provider recorded no statement for image {image}")
    return found


def _store_attestations(
    client: RegistryClient,
    repo: str,
    target: str,
    layers: list[tuple[bytes, dict[str, Any]]],
    expected: keyless.Identity | None,
) -> None:
    """Add these envelopes to ``target``'s ``sha256-<hex>.att`` image. This identity's earlier
    keyless attestations of the same predicate types are replaced; key-signed ones, other
    identities' and other types stay."""
    tag = cosign_sig.sig_tag(target, "att")
    kept: list[dict[str, Any]] = []
    if client.head_manifest(repo, tag) is not None:
        kept = [dict(x) for x in json.loads(client.get_manifest(repo, tag).data).get("layers") or []]
    ours = {layer["annotations"][cosign_sig.PREDICATE_ANNOTATION] for _, layer in layers}

    def replaced(layer: dict[str, Any]) -> bool:
        notes = layer.get("annotations") or {}
        pem = notes.get(keyless.CERTIFICATE_ANNOTATION)
        if notes.get(cosign_sig.PREDICATE_ANNOTATION) not in ours or not pem:
            return False
        return expected is None or keyless.certificate_identity(str(pem)) == expected

    kept = [x for x in kept if not replaced(x)]
    for data, layer in layers:
        client.upload_blob(repo, cosign_sig.payload_digest(data), data)
        kept.append(layer)
    manifest, config = cosign_sig.signature_manifest(kept)
    client.upload_blob(repo, cosign_sig.payload_digest(config), config)
    client.put_manifest(repo, tag, manifest, cosign_sig.OCI_MANIFEST)
