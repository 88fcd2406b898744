/* insn_count: a QEMU user-mode plugin that counts executed guest instructions.
 *
 * Every translated block adds its instruction count to one counter when it
 * runs (inline, no callback per instruction, so emulation stays fast). When
 * the guest makes the runner's marker syscall (write with length MARK_LEN) the
 * current count is appended to the file named by the `out=` argument; the
 * difference between two markers is the cost of one inference. The total is
 * written at exit. With one guest thread the count is exact and repeatable.
 */
#include <stdio.h>
#include <string.h>

#include "qemu_plugin_min.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

#define MARK_LEN 0x4c495445ULL

static uint64_t insns;
static FILE *out;

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns,
                                           qemu_plugin_tb_n_insns(tb));
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1,
                       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                       uint64_t a7, uint64_t a8) {
  (void)id; (void)vcpu; (void)num; (void)a1; (void)a2; (void)a4; (void)a5; (void)a6; (void)a7;
  (void)a8;
  if ((uint32_t)a3 == (uint32_t)MARK_LEN && (uint32_t)a1 == 0xffffffffu) {
    fprintf(out, "mark %llu\n", (unsigned long long)insns);
    fflush(out);
  }
}

static void at_exit(qemu_plugin_id_t id, void *p) {
  (void)id; (void)p;
  fprintf(out, "total %llu\n", (unsigned long long)insns);
  fclose(out);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv) {
  (void)info;
  const char *path = NULL;
  for (int i = 0; i < argc; i++)
    if (strncmp(argv[i], "out=", 4) == 0) path = argv[i] + 4;
  out = path ? fopen(path, "w") : stderr;
  if (!out) return -1;
  qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
  qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
  qemu_plugin_register_atexit_cb(id, at_exit, NULL);
  return 0;
}
