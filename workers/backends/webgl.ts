// The WebGL backend, loaded only when it is tried (a WebGL context exists and its renderer
// is not a software one). Importing it registers 'webgl'.
import '@tensorflow/tfjs-backend-webgl';
