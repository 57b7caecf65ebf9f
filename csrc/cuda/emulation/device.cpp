// Emulated CUDA (test-only build): the launcher, fibers and barrier behind device.h, and the runtime calls of
// cuda_runtime_api.h. One launch at a time in the process (the __shared__ variables are static).
#include "device.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <ucontext.h>

#include <mutex>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SG_EMULATION_ASAN 1
#else
#define SG_EMULATION_ASAN 0
#endif

namespace stylegan_ops {
namespace emulation {
namespace {

constexpr size_t kStackBytes = size_t(128) << 10;  // per thread; AddressSanitizer's redzones make frames larger
constexpr unsigned int kMaxThreadsPerBlock = 1024;

enum class State { Runnable, AtBarrier, Done };

struct Fiber {
    ucontext_t context;
    char* stack = nullptr;
    State state = State::Done;
    uint3 index{};
};

// The block being run. Fibers and their stacks are kept from launch to launch.
struct Block {
    ucontext_t scheduler;
    const void* scheduler_stack = nullptr;  // for AddressSanitizer's fiber annotations
    size_t scheduler_stack_size = 0;
    std::vector<Fiber> fibers;
    bool abandoned = false;  // a block left fibers suspended in the kernel: their stacks hold stale frames
    unsigned long long launches = 0;
    Fiber* current = nullptr;
    const std::function<void()>* body = nullptr;
    uint3 block_index{};
    dim3 grid, block;
};

Block& the_block() {
    static Block block;
    return block;
}

std::mutex& launch_mutex() {
    static std::mutex mutex;
    return mutex;
}

thread_local cudaError_t last_error = cudaSuccess;

// libc's swapcontext, not AddressSanitizer's wrapper of it: the wrapper clears the shadow of the whole target stack
// at every switch (most of the emulator's time), which the fiber annotations below make unnecessary.
using SwapContext = int (*)(ucontext_t*, const ucontext_t*);
SwapContext libc_swapcontext() {
    static const SwapContext swap = [] {
        void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        void* symbol = libc != nullptr ? dlsym(libc, "swapcontext") : nullptr;
        return symbol != nullptr ? reinterpret_cast<SwapContext>(symbol) : &swapcontext;
    }();
    return swap;
}

// AddressSanitizer is told when the stack changes under it (sanitizer/common_interface_defs.h). No fake stacks: the
// emulated build runs without detect_stack_use_after_return, so every frame is on the real stack.
void start_switch(const void* bottom, size_t size) {
#if SG_EMULATION_ASAN
    __sanitizer_start_switch_fiber(nullptr, bottom, size);
#else
    (void)bottom, (void)size;
#endif
}

void finish_switch(const void** bottom_old, size_t* size_old) {
#if SG_EMULATION_ASAN
    __sanitizer_finish_switch_fiber(nullptr, bottom_old, size_old);
#else
    (void)bottom_old, (void)size_old;
#endif
}

// Back to the scheduler. No local of this frame or fiber_main's has its address taken, so a finished fiber leaves
// no poisoned redzones behind on its stack for the next block's frames.
void yield_to_scheduler() {
    Block& b = the_block();
    start_switch(b.scheduler_stack, b.scheduler_stack_size);
    libc_swapcontext()(&b.current->context, &b.scheduler);
    finish_switch(&b.scheduler_stack, &b.scheduler_stack_size);
}

void fiber_main() {
    Block& b = the_block();
    finish_switch(&b.scheduler_stack, &b.scheduler_stack_size);
    (*b.body)();
    b.current->state = State::Done;
    yield_to_scheduler();
    abort();  // a finished fiber is never resumed
}

void resume(Fiber& f) {
    Block& b = the_block();
    b.current = &f;
    start_switch(f.stack, kStackBytes);
    libc_swapcontext()(&b.scheduler, &f.context);
    finish_switch(nullptr, nullptr);
}

void start_fiber(Fiber& f) {
    if (f.stack == nullptr) {
        // The stack, with an inaccessible page below it: a kernel that overflows its stack faults.
        const size_t page = size_t(sysconf(_SC_PAGESIZE));
        void* mapping = mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mapping == MAP_FAILED || mprotect(mapping, page, PROT_NONE) != 0) {
            fprintf(stderr, "emulated CUDA: cannot map a thread stack\n");
            abort();
        }
        f.stack = static_cast<char*>(mapping) + page;
    }
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack;
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_main, 0);
    f.state = State::Runnable;
}

// Runs the block the_block().block_index names; false if its threads disagreed about a barrier.
bool run_block() {
    Block& b = the_block();
    const size_t n = size_t(b.block.x) * b.block.y * b.block.z;
    for (size_t t = 0; t < n; ++t) {
        Fiber& f = b.fibers[t];
        f.index = uint3{unsigned(t % b.block.x), unsigned(t / b.block.x % b.block.y),
                        unsigned(t / (size_t(b.block.x) * b.block.y))};
        start_fiber(f);
    }
    // Ascending and descending thread order alternate from phase to phase, and the first phase's order from launch
    // to launch: a tree reduction without its barriers comes out right in descending order, wrong in ascending.
    for (size_t phase = 0;; ++phase) {
        const bool ascending = (phase + b.launches) % 2 == 0;
        for (size_t k = 0; k < n; ++k) {
            Fiber& f = b.fibers[ascending ? k : n - 1 - k];
            if (f.state == State::Runnable) resume(f);
        }
        size_t waiting = 0;
        for (size_t t = 0; t < n; ++t) waiting += b.fibers[t].state == State::AtBarrier;
        if (waiting == 0) return true;
        if (waiting != n) {
            fprintf(stderr,
                    "emulated CUDA: in block (%u, %u, %u), %zu of %zu threads wait at __syncthreads() number %zu while "
                    "the others have returned\n",
                    b.block_index.x, b.block_index.y, b.block_index.z, waiting, n, phase + 1);
            return false;
        }
        for (size_t t = 0; t < n; ++t) b.fibers[t].state = State::Runnable;
    }
}

// Runs every block of the launch; false after a block whose threads disagreed about a barrier.
bool run_grid() {
    Block& b = the_block();
    for (unsigned int z = 0; z < b.grid.z; ++z) {
        for (unsigned int y = 0; y < b.grid.y; ++y) {
            for (unsigned int x = 0; x < b.grid.x; ++x) {
                b.block_index = uint3{x, y, z};
                if (!run_block()) return false;
            }
        }
    }
    return true;
}

bool valid_launch(dim3 grid, dim3 block) {
    const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    return grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu && grid.y <= 65535 &&
           grid.z <= 65535 && threads >= 1 && threads <= kMaxThreadsPerBlock && block.z <= 64;
}

// The emulated device: few multiprocessors and a low grid limit along z, so that the launchers' grids stay small and
// the kernels' grid-stride loops wrap even on the small tensors of the tests (the real limits are checked at launch).
int attribute_value(cudaDeviceAttr attr) {
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock: return int(kMaxThreadsPerBlock);
        case cudaDevAttrMaxGridDimX: return 0x7fffffff;
        case cudaDevAttrMaxGridDimY: return 65535;
        case cudaDevAttrMaxGridDimZ: return 3;
        case cudaDevAttrMultiProcessorCount: return 2;
    }
    return -1;
}

}  // namespace

const uint3& thread_index() { return the_block().current->index; }
const uint3& block_index() { return the_block().block_index; }
const dim3& block_dim() { return the_block().block; }
const dim3& grid_dim() { return the_block().grid; }

void sync_threads() {
    the_block().current->state = State::AtBarrier;
    yield_to_scheduler();
}

cudaError_t launch(dim3 grid, dim3 block, const std::function<void()>& thread_body) {
    if (!valid_launch(grid, block)) return last_error = cudaErrorInvalidConfiguration;
    const std::lock_guard<std::mutex> lock(launch_mutex());
    Block& b = the_block();
    if (b.fibers.size() < kMaxThreadsPerBlock) b.fibers.resize(kMaxThreadsPerBlock);
    b.grid = grid;
    b.block = block;
    b.body = &thread_body;
#if SG_EMULATION_ASAN
    if (b.abandoned) {  // the redzones of the frames that a failed launch left suspended
        for (Fiber& f : b.fibers) {
            if (f.stack != nullptr) __asan_unpoison_memory_region(f.stack, kStackBytes);
        }
    }
#endif
    ++b.launches;
    const bool ok = run_grid();
    b.abandoned = !ok;
    return ok ? cudaSuccess : (last_error = cudaErrorLaunchFailure);
}

}  // namespace emulation
}  // namespace stylegan_ops

cudaError_t cudaGetLastError() {
    const cudaError_t error = stylegan_ops::emulation::last_error;
    stylegan_ops::emulation::last_error = cudaSuccess;
    return error;
}

const char* cudaGetErrorString(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}

cudaError_t cudaGetDevice(int* device) {
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    *value = stylegan_ops::emulation::attribute_value(attr);
    return device == 0 && *value >= 0 ? cudaSuccess : cudaErrorInvalidValue;
}
