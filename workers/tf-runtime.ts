// TensorFlow.js as the worker needs it. Every module here imports tfjs-core alone, not the
// `@tensorflow/tfjs` union package, which would bundle layers, the converter, the data API
// and the CPU and WebGL backends into the worker statically; each backend is instead a chunk
// of its own that backend.ts imports only when it tries that backend. What the union package
// also did, and training needs, is register the gradients: this module does that, and the
// worker entry imports it first. It is kept out of the modules Node also runs (recommender,
// models/): in Node, `@tensorflow/tfjs` registers the gradients, and this ESM-only path of
// tfjs-core cannot be loaded there.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
