// map_executable_on_demand(): madvise over the main program's read-only PT_LOAD segments.
#include "cni/startup.h"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace cni {

void map_executable_on_demand() noexcept {
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void*) -> int {
        const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W)) continue;
          const uintptr_t begin = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
          const uintptr_t end = info->dlpi_addr + ph.p_vaddr + ph.p_memsz;
          ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_RANDOM);
        }
        return 1;  // the first entry is the main program: stop there
      },
      nullptr);
}

}  // namespace cni
