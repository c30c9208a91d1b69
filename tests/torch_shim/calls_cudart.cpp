// Declared as the CUDA runtime declares it; the fake wheel's libcudart returns 0.
extern "C" int cudaGetLastError();
int main() { return cudaGetLastError(); }
