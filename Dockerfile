# mrsisr BIDS-App: FSL BET + FLIRT, mrsisr with its default weights, the BIDS validator.
# brainextractor's numba kernels are compiled at build time into NUMBA_CACHE_DIR (generic CPU code, so the
# cache is valid on any x86-64 host; world-writable for any --user; a read-only Apptainer image is copied
# to ~/.cache/mrsisr/numba by mrsisr.skullstrip.configure_numba_cache): no run pays the compile.
#   docker build -t mrsisr .                                   # CUDA build of PyTorch (use --gpus all)
#   docker build --build-arg TORCH_VARIANT=cpu -t mrsisr:cpu .  # smaller, CPU only

# --- FSL's BET and FLIRT from FSL's own conda channel (no full FSL install) ---
FROM mambaorg/micromamba:1.5.10-bookworm-slim AS fsl
ARG FSL_CHANNEL=https://fsl.fmrib.ox.ac.uk/fslconda/public/
RUN micromamba create --yes --prefix /opt/fsl \
        --channel "${FSL_CHANNEL}" --channel conda-forge \
        fsl-bet2 fsl-flirt fsl-avwutils \
    && micromamba clean --all --yes

# --- the application ---
FROM python:3.11-slim-bookworm
ARG TORCH_VARIANT=cu124
LABEL org.opencontainers.image.title="mrsisr" \
      org.opencontainers.image.description="Super-resolution of MRSI metabolite maps (BIDS-App)" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV FSLDIR=/opt/fsl \
    FSLOUTPUTTYPE=NIFTI_GZ \
    FSLMULTIFILEQUIT=TRUE \
    PATH=/opt/fsl/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/opt/mrsisr/numba-cache \
    NUMBA_CPU_NAME=generic \
    MRSISR_CONTAINER=docker

COPY --from=fsl /opt/fsl /opt/fsl

WORKDIR /src
COPY . /src
RUN pip install --no-cache-dir "torch>=2.1" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
    && pip install --no-cache-dir "/src[validator]" \
    && python -c "import mrsisr.inference as i; assert i.DEFAULT_WEIGHTS.is_file(), i.DEFAULT_WEIGHTS" \
    && python -c "from mrsisr.skullstrip import warm_numba_cache; print(warm_numba_cache())" \
    && chmod -R a+rwX /opt/mrsisr/numba-cache \
    && rm -rf /src

RUN groupadd --gid 1000 mrsisr && useradd --create-home --uid 1000 --gid 1000 --shell /bin/bash mrsisr
USER 1000:1000
WORKDIR /home/mrsisr

ENTRYPOINT ["mrsisr"]
CMD ["--help"]
