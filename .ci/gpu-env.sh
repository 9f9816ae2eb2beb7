# Sourced by .ci/run (and by a developer's shell: `source .ci/gpu-env.sh`): what the gpujs-webgpu
# backend needs on a Linux machine without a GPU.
#
# gpujs-webgpu runs gpu.js's WGSL kernels on Dawn (the `webgpu` npm package, installed by npm ci).
# Without a GPU, Dawn's OpenGL ES backend runs on Mesa's software rasterizer (llvmpipe) through
# EGL, headless. That needs Mesa's EGL and GLES libraries, which the CI image already has; they
# are installed here only when missing, so on the image this script costs well under a second.

gpu_env_packages=(libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)
gpu_env_missing=()
for p in "${gpu_env_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || gpu_env_missing+=("$p")
done
if ((${#gpu_env_missing[@]})); then
  echo "gpu-env: installing ${gpu_env_missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${gpu_env_missing[@]}"
  else
    echo "gpu-env: not root; install them yourself (apt-get install ${gpu_env_missing[*]}) or set STTN_SKIP_BACKENDS=gpujs-webgpu" >&2
  fi
fi
unset p gpu_env_packages gpu_env_missing

# No display: EGL must not look for X11 or Wayland. OpenGL ES is the Dawn backend Mesa offers, so
# ask for it directly rather than try Vulkan first (which only prints a warning here).
export EGL_PLATFORM="${EGL_PLATFORM:-surfaceless}"
export STTN_DAWN_BACKEND="${STTN_DAWN_BACKEND:-opengles}"
echo "gpu-env: EGL_PLATFORM=$EGL_PLATFORM STTN_DAWN_BACKEND=$STTN_DAWN_BACKEND"
