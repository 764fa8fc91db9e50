"""sign: cosign signatures for every pushed image index and its platform manifests, and a
``.sig`` file for every archive, checksum file and package.

Key-based: an ECDSA P-256 key in cosign's format from a ``Secret`` (password from
``key_password`` or ``COSIGN_PASSWORD``). Runs in the upload stage next to the image pushers
(``providers = ["registry", "sign"]``), declared to run *after* them and after
``provenance`` (``Uploader(after=...)``: the runner starts it once their threads have
ended, and skips it if one failed), so every ``image`` of the package stage has its
``image-ref`` and the provenance statements exist when it starts. Staying in the upload
stage keeps ``cd`` (package, upload, deploy) signing before deploy checks signatures. It
connects to each image's registry with its own login options.

- Images: one signature per manifest (the index and each platform manifest), stored with
  cosign's tag scheme (``<repo>:sha256-<hex>.sig``, :mod:`gopipe_plugins._common.cosign_sig`),
  which every registry serves and ``cosign verify --key`` reads. A signature gopipe already
  stored there with this key is kept rather than added twice; other signers' layers stay.
  The signature, the provenance envelope (``artifactType: application/vnd.in-toto+json``)
  and the SBOM (``application/vnd.cyclonedx+json``) are also pushed as OCI 1.1 referrers of
  each manifest, for ``oras discover`` (the registry's referrers API, or the referrers tag
  schema where it has none: :mod:`gopipe_oci.referrers`); once per key and type.
  The same signature and attestations also go there as Sigstore bundles v0.3 (cosign v3's
  own format, :mod:`gopipe_plugins._common.sigstore_bundle`), which ``cosign verify`` reads
  before the tag scheme; once per key and predicate type.
- Attestations: on the index, its SLSA provenance (the ``provenance`` provider's DSSE
  envelope, when it is selected too); on each platform manifest, a CycloneDX statement of
  its binary's SBOM; stored under ``<repo>:sha256-<hex>.att`` for ``cosign
  verify-attestation --type slsaprovenance1`` / ``--type cyclonedx``; this key's earlier
  attestations of the same types are replaced.
- Files: ``<file>.sig`` next to the file in ``dist/``, for ``cosign verify-blob --key
  cosign.pub --signature <file>.sig --insecure-ignore-tlog=true <file>``.

Keyless (``mode = "keyless"``: Sigstore with the GitHub Actions OIDC token) is its own
module, :mod:`gopipe_plugins.upload.sign_keyless`; ``run`` only hands over to it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from gopipe import hookimpl
from gopipe.artifacts import Artifact
from gopipe.config import Config, doc
from gopipe.context import ProviderContext
from gopipe.errors import ConfigError, StageFailed
from gopipe.paths import artifact_file
from gopipe.secrets import Secret
from gopipe.types import Uploader
from gopipe_oci import RegistryClient, RegistryError, referrers
from gopipe_oci.digest import INDEX_MEDIA_TYPES
from gopipe_plugins._common import cosign_sig, dsse, sigstore_bundle
from gopipe_plugins._common.keyless import GITHUB_ISSUER, Instance
from gopipe_plugins._common.provenance import PREDICATE_TYPE, STATEMENT_TYPE
from gopipe_plugins._common.registry_access import Login, connect, credentials, library_logs, register_tokens
from gopipe_plugins.upload.signing_key import load_signing_key

CONFIG_KEY = "tool.gopipe.upload.sign"
PUSHERS = ("registry", "harbor", "ecr")
BLOB_KINDS = ("archive", "checksums", "package")


@dataclass(frozen=True)
class SignOptions(Login):
    """What to sign with; the registry login options apply to every image's registry."""

    CONFIG_KEY: ClassVar[str] = CONFIG_KEY

    key: Secret | None = doc("cosign private key (ENCRYPTED SIGSTORE PRIVATE KEY PEM)", None)
    key_password: Secret | None = doc("the key's password; default: the COSIGN_PASSWORD variable", None)
    blobs: tuple[str, ...] = doc("artifact kinds that get a .sig file", BLOB_KINDS)
    images: bool = doc("sign pushed images (index and platform manifests)", True)
    # -- keyless (sign_keyless.py) --
    mode: Literal["key", "keyless"] = doc(
        "key: the cosign key above; keyless: Sigstore with the GitHub Actions OIDC token", "key"
    )
    sigstore: Instance = doc("keyless: the public Sigstore instance to sign with", "production")
    trust_config: str | None = doc(
        "keyless: a Sigstore ClientTrustConfig JSON in the repository (a private instance)", None
    )
    issuer: str = doc("keyless: the OIDC issuer the token must come from", GITHUB_ISSUER)
    identity: str | None = doc("keyless: the workflow@ref identity this job must sign as", None)


def run(ctx: ProviderContext[SignOptions]) -> None:
    opts = ctx.options
    if opts.mode == "keyless":
        from gopipe_plugins.upload.sign_keyless import run_keyless

        run_keyless(ctx)
        return
    if opts.key is None:
        fix = 'set key = { file = "cosign.key" } (made by cosign generate-key-pair)'
        raise ConfigError(ctx.config.display_file, f"{CONFIG_KEY}.key", "no signing key", fix)
    key = load_signing_key(ctx, opts.key, opts.key_password, CONFIG_KEY)
    files = [_sign_file(ctx, a, key) for kind in opts.blobs for a in ctx.artifacts.of_kind(kind) if a.path]
    manifests = 0
    refs = pushed_images(ctx) if opts.images else []
    if refs:
        with library_logs(ctx):
            for ref in refs:
                manifests += _sign_image(ctx, ref, key)
    parts = [f"{len(files)} file{'s' * (len(files) != 1)}"]
    if opts.images:
        parts.append(f"{manifests} image manifest{'s' * (manifests != 1)}")
    ctx.summary = "signed " + ", ".join(parts)


def pushed_images(ctx: ProviderContext[SignOptions]) -> list[Artifact]:
    """The ``image-ref`` of every image; the pushers of this stage have finished (``after``)."""
    refs = ctx.artifacts.of_kind("image-ref")
    pushers = [p for p in ctx.config.stage("upload").providers if p in PUSHERS]
    wanted = {a.name for a in ctx.artifacts.of_kind("image") if a.extra.get("index_digest")}
    missing = wanted - {r.name for r in refs}
    if pushers and missing:
        raise StageFailed(
            f"no pushed image to sign for {', '.join(sorted(missing))}",
            details=f"{', '.join(pushers)} finished without recording an image-ref",
        )
    return refs


def _sign_file(ctx: ProviderContext[SignOptions], artifact: Artifact, key: Any) -> str:
    path = artifact_file(ctx.root, artifact)
    # next to the file, and only inside dist/: a .sig is never written anywhere else
    out = ctx.dist_path(os.path.relpath(path.with_name(path.name + ".sig"), ctx.dist), "blobs")
    data = path.read_bytes()
    out.write_text(cosign_sig.sign_bytes(data, key))
    ctx.add_artifact("signature", out.name, out, of=artifact.name, signed_sha256=_sha(data))
    return out.name


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sign_image(ctx: ProviderContext[SignOptions], ref: Artifact, key: Any) -> int:
    host = str(ref.extra.get("registry") or "")
    repository = str(ref.extra.get("repository") or "")
    digest = str(ref.extra.get("digest") or "")
    if not host or not repository.startswith(host + "/") or not digest.startswith("sha256:"):
        raise StageFailed(f"image-ref {ref.name} names no registry, repository and digest to sign")
    repo = repository[len(host) + 1 :]
    with connect(ctx, ctx.options, host, credentials(ctx, ctx.options)) as client:
        try:
            platforms = platform_manifests(client, repo, digest)
            targets = [digest, *platforms]
            for target in targets:
                _store_signature(client, repo, repository, target, key)
        except (RegistryError, OSError, ValueError) as exc:
            raise StageFailed(f"signing {repository}@{digest[:19]}: {exc}") from None
        finally:
            register_tokens(ctx, client)
    _attest_image(ctx, ref, repo, repository, digest, platforms, key)
    record_signatures(ctx, ref, repository, targets, "cosign-tag")
    return len(targets)


def record_signatures(
    ctx: ProviderContext[SignOptions],
    ref: Artifact,
    repository: str,
    targets: list[str],
    scheme: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """One ``image-signature`` artifact and log line per signed manifest (both modes)."""
    how = " keyless" if scheme.endswith("-keyless") else ""
    for target in targets:
        ctx.add_artifact(
            "image-signature",
            f"{ref.name}@{target[:19]}",
            reference=f"{repository}:{cosign_sig.sig_tag(target)}",
            signed=f"{repository}@{target}",
            scheme=scheme,
            **(extra or {}),
        )
        ctx.log(f"signed{how} {repository}@{target} -> :{cosign_sig.sig_tag(target)}")


def _envelopes(
    ctx: ProviderContext[SignOptions],
    ref: Artifact,
    repository: str,
    digest: str,
    platforms: dict[str, str],
    key: Any,
) -> dict[str, list[tuple[bytes, str]]]:
    """The DSSE envelopes to attach, by manifest digest: the index gets its SLSA provenance
    (from the provenance provider); each platform manifest gets a CycloneDX statement of the
    SBOM of its binary (the index gets them when it has no platform manifests)."""
    found: dict[str, list[tuple[bytes, str]]] = {}
    for att in _provenance_of(ctx, ref.name):
        found.setdefault(digest, []).append(
            (artifact_file(ctx.root, att).read_bytes().strip(), PREDICATE_TYPE)
        )
    sboms = [a for a in ctx.artifacts.of_kind("sbom") if a.path]
    of_image = [a for a in sboms if a.extra.get("binary") == ref.name]  # images are named after binaries
    if not of_image and len(ctx.artifacts.of_kind("image-ref")) == 1:
        of_image = sboms
    by_platform = {plat: target for target, plat in platforms.items()}
    for sbom in of_image:
        target = by_platform.get(f"{sbom.os}/{sbom.arch}") if platforms else digest
        if target is None:
            continue  # a binary this image does not hold
        bom = json.loads(artifact_file(ctx.root, sbom).read_text(encoding="utf-8"))
        statement = {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": repository, "digest": {"sha256": target.removeprefix("sha256:")}}],
            "predicateType": cosign_sig.CYCLONEDX_PREDICATE,
            "predicate": bom,
        }
        envelope = dsse.sign(dsse.canonical(statement), key)
        found.setdefault(target, []).append(
            (json.dumps(envelope, separators=(",", ":")).encode(), cosign_sig.CYCLONEDX_PREDICATE)
        )
    return found


def _provenance_of(ctx: ProviderContext[SignOptions], image: str) -> list[Artifact]:
    """The provenance provider's signed statement for ``image`` (it has finished: ``after``)."""
    if "provenance" not in ctx.config.stage("upload").providers:
        return []
    found = [
        a
        for a in ctx.artifacts.of_kind("attestation")
        if a.extra.get("of") == "image" and a.extra.get("subject") == image and a.path
    ]
    if not found:
        raise StageFailed(f"the provenance provider recorded no signed statement for image {image}")
    return found


def _attest_image(
    ctx: ProviderContext[SignOptions],
    ref: Artifact,
    repo: str,
    repository: str,
    digest: str,
    platforms: dict[str, str],
    key: Any,
) -> None:
    by_target = _envelopes(ctx, ref, repository, digest, platforms, key)
    host = str(ref.extra.get("registry"))
    with connect(ctx, ctx.options, host, credentials(ctx, ctx.options)) as client:
        try:
            for target, envelopes in by_target.items():
                _store_attestations(client, repo, target, envelopes, key)
            for target in [digest, *platforms]:
                _attach_referrers(ctx, client, repo, repository, target, by_target.get(target, []), key)
        except (RegistryError, OSError, ValueError) as exc:
            raise StageFailed(f"attesting {repository}@{digest[:19]}: {exc}") from None
        finally:
            register_tokens(ctx, client)
    for target, envelopes in by_target.items():
        for envelope, predicate in envelopes:
            ctx.add_artifact(
                "image-attestation",
                f"{ref.name}@{target[:19]}",
                reference=f"{repository}:{cosign_sig.sig_tag(target, 'att')}",
                attests=f"{repository}@{target}",
                predicate_type=predicate,
                envelope_digest=cosign_sig.payload_digest(envelope),
            )


def _attach_referrers(
    ctx: ProviderContext[SignOptions],
    client: RegistryClient,
    repo: str,
    repository: str,
    target: str,
    envelopes: list[tuple[bytes, str]],
    key: Any,
) -> None:
    """The same signature, provenance and SBOM as OCI 1.1 referrers of ``target`` (for
    ``oras discover`` and other referrers clients; the referrers API or the tag schema,
    :mod:`gopipe_oci.referrers`), once per signing key and artifact type."""
    fetched = client.get_manifest(repo, target)
    subject = {"mediaType": fetched.media_type, "digest": target, "size": len(fetched.data)}
    key_id = _key_id(key)
    listed, api = referrers.list_referrers(client, repo, target)
    present = {referrer_kind(m) for m in listed if annotation(m, cosign_sig.KEY_ANNOTATION) == key_id}
    payload = cosign_sig.simple_signing_payload(repository, target)
    items: list[tuple[str, bytes, dict[str, Any]]] = [
        (
            cosign_sig.SIGNATURE_ARTIFACT,
            payload,
            cosign_sig.signature_layer(payload, cosign_sig.sign_bytes(payload, key)),
        )
    ]
    bundles: list[tuple[str, dict[str, Any]]] = [
        (sigstore_bundle.SIGN_PREDICATE, dsse.sign(sigstore_bundle.signature_statement(target), key))
    ]
    for envelope, predicate in envelopes:
        bundles.append((predicate, json.loads(envelope)))
        if predicate == cosign_sig.CYCLONEDX_PREDICATE:
            bom = dsse.verify(json.loads(envelope), key.public_key())
            data = dsse.canonical(json.loads(bom)["predicate"])
            layer = {
                "mediaType": cosign_sig.CYCLONEDX_ARTIFACT,
                "size": len(data),
                "digest": cosign_sig.payload_digest(data),
            }
            items.append((cosign_sig.CYCLONEDX_ARTIFACT, data, layer))
        else:
            layer = cosign_sig.attestation_layer(envelope, predicate)
            layer["annotations"] = {cosign_sig.PREDICATE_TYPE_ANNOTATION: predicate}
            items.append((cosign_sig.IN_TOTO_ARTIFACT, envelope, layer))
    for artifact_type, data, layer in items:
        if artifact_type in present:
            continue
        manifest, config = cosign_sig.referrer_manifest(artifact_type, layer, subject, key_id)
        client.upload_blob(repo, cosign_sig.payload_digest(data), data)
        client.upload_blob(repo, cosign_sig.payload_digest(config), config)
        pushed = referrers.attach(client, repo, target, manifest, cosign_sig.OCI_MANIFEST, api=api)
        ctx.add_artifact(
            "referrer",
            f"{repository}@{pushed[:19]}",
            subject=f"{repository}@{target}",
            artifact_type=artifact_type,
        )
    for predicate, signed in bundles:
        if f"bundle:{predicate}" not in present:
            bundle = sigstore_bundle.make_bundle(signed, key.public_key())
            attach_bundle(
                ctx,
                client,
                repo,
                repository,
                subject,
                bundle,
                predicate,
                {cosign_sig.KEY_ANNOTATION: key_id},
                api,
            )


def attach_bundle(
    ctx: ProviderContext[SignOptions],
    client: RegistryClient,
    repo: str,
    repository: str,
    subject: dict[str, Any],
    bundle: bytes,
    predicate: str,
    annotations: dict[str, str],
    api: bool,
) -> None:
    """Store a Sigstore bundle about ``subject`` (a descriptor) as its referrer, the way cosign
    v3 does (:func:`sigstore_bundle.bundle_manifest`); recorded as a ``referrer`` artifact."""
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = sigstore_bundle.bundle_manifest(bundle, subject, predicate, created, annotations)
    empty = sigstore_bundle.EMPTY_CONFIG
    client.upload_blob(repo, cosign_sig.payload_digest(empty), empty)
    client.upload_blob(repo, cosign_sig.payload_digest(bundle), bundle)
    target = str(subject["digest"])
    pushed = referrers.attach(client, repo, target, manifest, cosign_sig.OCI_MANIFEST, api=api)
    ctx.add_artifact(
        "referrer",
        f"{repository}@{pushed[:19]}",
        subject=f"{repository}@{target}",
        artifact_type=sigstore_bundle.BUNDLE_MEDIA_TYPE,
        predicate_type=predicate,
    )


def referrer_kind(descriptor: dict[str, object]) -> str:
    """What a referrer of ours holds: ``bundle:<predicate type>`` for a Sigstore bundle (its
    listed type may be the empty config's), else its artifact type."""
    if sigstore_bundle.is_bundle_referrer(descriptor):
        return f"bundle:{annotation(descriptor, sigstore_bundle.PREDICATE_ANNOTATION)}"
    return str(descriptor.get("artifactType"))


def annotation(descriptor: dict[str, object], name: str) -> object:
    annotations = descriptor.get("annotations")
    return annotations.get(name) if isinstance(annotations, dict) else None


def _key_id(key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _store_attestations(
    client: RegistryClient, repo: str, digest: str, envelopes: list[tuple[bytes, str]], key: Any
) -> None:
    """Replace this key's earlier attestations of the same predicate types; keep the rest."""
    tag = cosign_sig.sig_tag(digest, "att")
    layers: list[dict[str, Any]] = []
    if client.head_manifest(repo, tag) is not None:
        layers = [dict(x) for x in json.loads(client.get_manifest(repo, tag).data).get("layers") or []]
    ours = {predicate for _, predicate in envelopes}
    kept = []
    for layer in layers:
        predicate = (layer.get("annotations") or {}).get(cosign_sig.PREDICATE_ANNOTATION)
        if predicate in ours and _signed_by(client, repo, layer, key):
            continue
        kept.append(layer)
    for envelope, predicate in envelopes:
        client.upload_blob(repo, cosign_sig.payload_digest(envelope), envelope)
        kept.append(cosign_sig.attestation_layer(envelope, predicate))
    manifest, config = cosign_sig.signature_manifest(kept)
    client.upload_blob(repo, cosign_sig.payload_digest(config), config)
    client.put_manifest(repo, tag, manifest, cosign_sig.OCI_MANIFEST)


def _signed_by(client: RegistryClient, repo: str, layer: dict[str, Any], key: Any) -> bool:
    try:
        dsse.verify(json.loads(client.get_blob(repo, str(layer["digest"]))), key.public_key())
    except (ValueError, KeyError, RegistryError):
        return False
    return True


def platform_manifests(client: RegistryClient, repo: str, digest: str) -> dict[str, str]:
    """The index's platform manifests: digest -> ``os/arch`` (empty for a single manifest)."""
    top = client.get_manifest(repo, digest)
    if top.media_type not in INDEX_MEDIA_TYPES:
        return {}
    found = {}
    for m in json.loads(top.data).get("manifests") or []:
        plat = m.get("platform") or {}
        if str(m.get("digest", "")).startswith("sha256:"):
            found[str(m["digest"])] = f"{plat.get('os', '')}/{plat.get('architecture', '')}"
    return found


def _store_signature(client: RegistryClient, repo: str, repository: str, target: str, key: Any) -> None:
    """Add this key's signature of ``target`` to its ``sha256-<hex>.sig`` image."""
    payload = cosign_sig.simple_signing_payload(repository, target)
    tag = cosign_sig.sig_tag(target)
    layers: list[dict[str, Any]] = []
    if client.head_manifest(repo, tag) is not None:
        existing = json.loads(client.get_manifest(repo, tag).data)
        layers = [dict(layer) for layer in existing.get("layers") or []]
    pub = key.public_key()
    for layer in layers:
        sig = str((layer.get("annotations") or {}).get(cosign_sig.SIGNATURE_ANNOTATION, ""))
        if layer.get("digest") == cosign_sig.payload_digest(payload) and cosign_sig.verifies(
            payload, sig, pub
        ):
            return  # already signed by this key
    layers.append(cosign_sig.signature_layer(payload, cosign_sig.sign_bytes(payload, key)))
    manifest, config = cosign_sig.signature_manifest(layers)
    client.upload_blob(repo, cosign_sig.payload_digest(payload), payload)
    client.upload_blob(repo, cosign_sig.payload_digest(config), config)
    client.put_manifest(repo, tag, manifest, cosign_sig.OCI_MANIFEST)


def _keyless_preflight(config: Config, opts: SignOptions) -> None:
    from gopipe_plugins.upload.sign_keyless import preflight

    preflight(config, opts)


@hookimpl
def gopipe_uploaders() -> list[Uploader[SignOptions]]:
    return [
        Uploader(
            name="sign",
            run=run,
            options=SignOptions,
            description="cosign signatures for pushed images (tag scheme) and .sig files for archives",
            check=_keyless_preflight,
            after=(*PUSHERS, "provenance"),  # signs what they pushed and attaches what it wrote
        )
    ]
