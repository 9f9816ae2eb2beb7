/**
 * The convolutions as im2col + GEMM, written once over a backend's own `matmul`, `im2col` and
 * `col2im`: y = cols(x)·Wᵀ, dx = col2im(dY·W), dW = dYᵀ·cols(x), with W the OHWI kernel read as a
 * [cout, kh·kw·cin] matrix. The cpu (ndarray) and js (typed-array loops) reference backends
 * share it, so they differ only in how they lay out patches and multiply.
 *
 * Law (laws/backend-agreement.test.ts): both backends' convolutions agree with cpu64 and with
 * each other; laws/js-backend.test.ts: js equals cpu bit for bit.
 */
import type { Conv2dOptions, MatmulOptions } from '../src/backend.js';
import { assertConvOutput, convGeometry, type ConvGeometry } from '../src/shapes.js';
import type { Tensor } from '../src/tensor.js';

export interface Im2colParts {
  matmul(a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor;
  /** [n·oh·ow, kh·kw·cin] patches of NHWC `x`, zero outside the padded image. */
  im2col(x: Tensor, g: ConvGeometry): Tensor;
  /** The adjoint of im2col: each patch row added back into its NHWC positions. */
  col2im(cols: Tensor, g: ConvGeometry): Tensor;
}

export function im2colConvolutions({ matmul, im2col, col2im }: Im2colParts) {
  const kernelMatrix = (w: Tensor, g: ConvGeometry): Tensor => ({ shape: [g.cout, g.kh * g.kw * g.cin], data: w.data });
  return {
    conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions): Tensor {
      const g = convGeometry(x.shape, w.shape, opts);
      const y = matmul(im2col(x, g), kernelMatrix(w, g), { transB: true });
      return { shape: [g.n, g.oh, g.ow, g.cout], data: y.data };
    },
    conv2dGradInput(dy: Tensor, w: Tensor, xShape: readonly number[], opts: Conv2dOptions): Tensor {
      const g = convGeometry(xShape, w.shape, opts);
      assertConvOutput('conv2dGradInput dy', g, dy);
      return col2im(matmul({ shape: [g.n * g.oh * g.ow, g.cout], data: dy.data }, kernelMatrix(w, g)), g);
    },
    conv2dGradFilter(x: Tensor, dy: Tensor, wShape: readonly number[], opts: Conv2dOptions): Tensor {
      const g = convGeometry(x.shape, wShape, opts);
      assertConvOutput('conv2dGradFilter dy', g, dy);
      const dw = matmul({ shape: [g.n * g.oh * g.ow, g.cout], data: dy.data }, im2col(x, g), { transA: true });
      return { shape: [...wShape], data: dw.data };
    },
  };
}
