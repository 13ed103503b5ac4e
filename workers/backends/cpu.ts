// The plain JavaScript backend, loaded only when it is the one tried: the last resort in
// the default order, so most shoppers never download it. Importing it registers 'cpu'.
import '@tensorflow/tfjs-backend-cpu';
