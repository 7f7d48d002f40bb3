/* cnimux-bench-floor: the cost floor of a meta CNI plugin, the third side of
 * cnimux-bench-meta. It does only the work no journalling meta plugin can avoid, and nothing else.
 * Built like cnimux: dynamically linked against glibc, with the tree's flags (-O3 in Release).
 *
 * stdin (its own plain-text plan, written by the harness; not the cnimux netconf):
 *   cniDir <journal directory>
 *   binDir <directory holding the delegates>
 *   <ifname> <type> <file holding that delegate's whole network config>   (cluster network first)
 * The CNI_* environment is the one cnimux gets (CNI_IFNAME=eth0); each delegate gets it with
 * CNI_IFNAME set to its own line's ifname.
 *
 * ADD: reads each delegate's config file; writes the plan (every config) and "start eth0" as a
 * new journal file; then for each later attachment appends the previous one's result and its
 * own start (pwrite); runs each delegate (vfork + execve, config on a stdin pipe, result from a
 * stdout pipe, waitpid), and between its exec and its config makes that record durable
 * (fdatasync, and for the new file an fsync of the directory), as cnimux's journal does
 * (docs/journal.md, "Durability"); appends the last result and "complete" with no flush;
 * prints the cluster network's result, as cnimux returns.
 * DEL: reads the journal (the configs and results are there, as in cnimux's), runs each
 * delegate's DEL newest first with its prevResult spliced into its config, then appends a
 * tombstone with no flush. Any failure ends it with exit 1 and a message on stderr.
 *
 * Excluded on purpose: JSON parsing and validation, the ADD marker, checksums, locking,
 * rollback, deadlines and process-group guards, logging, result conversion, the pod lookup,
 * the conflist directory scan. Journal frames are "<tag> <ifname> <type> <length>\n<payload>\n".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

enum { kMaxAttachments = 8, kBig = 64 * 1024, kPath = 512 };

struct Attachment {
  char ifname[16], type[64];
  const char* conf; /* into g_confs (ADD) or g_journal (DEL) */
  size_t conf_len;
  const char* result; /* into g_results (ADD) or g_journal (DEL); NULL before its ADD */
  size_t result_len;
};

static struct Attachment g_att[kMaxAttachments];
static int g_count;
static char g_cni_dir[kPath], g_bin_dir[kPath], g_stdin[kBig], g_confs[kBig], g_results[kBig];
static char g_journal[kBig], g_record[kBig], g_conf_buf[kBig];
static size_t g_confs_used, g_results_used;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("cnimux-bench-floor: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* snprintf that fails loudly instead of truncating. */
__attribute__((format(printf, 3, 4))) static void put(char* dst, size_t cap, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(dst, cap, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= cap) die("too long: %s", dst);
}

static size_t read_all(int fd, char* buf, size_t cap, const char* what) {
  size_t n = 0;
  ssize_t r;
  while ((r = read(fd, buf + n, cap - n)) > 0) n += (size_t)r;
  if (r < 0 || n == cap) die("cannot read %s (or larger than %zu bytes)", what, cap - 1);
  buf[n] = '\0';
  return n;
}

static void write_all(int fd, const char* p, size_t n, const char* what) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) die("cannot write %s", what);
    p += w;
    n -= (size_t)w;
  }
}

/* Appends one journal frame to `buf` at `*len`. */
static void frame(char* buf, size_t* len, const char* tag, const char* ifname, const char* type,
                  const char* payload, size_t n) {
  int h = snprintf(buf + *len, kBig - *len, "%s %s %s %zu\n", tag, ifname, type, n);
  if (h < 0 || *len + (size_t)h + n + 1 >= kBig) die("journal record too large");
  *len += (size_t)h;
  memcpy(buf + *len, payload, n);
  *len += n;
  buf[(*len)++] = '\n';
}

/* The first record of a container: a new file, written but not yet flushed (flush() does
 * that once the first delegate exists, before it gets its config, as cnimux does). Returns the
 * open file, for the later appends. */
static int journal_create(const char* path, const char* bytes, size_t n) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot create %s", path);
  write_all(fd, bytes, n, path);
  return fd;
}

/* Makes the journal durable: its data, and with `name` its directory entry too. */
static void flush(int fd, int name) {
  if (fdatasync(fd) != 0) die("cannot sync the journal");
  if (!name) return;
  int dfd = open(g_cni_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0) die("cannot sync %s", g_cni_dir);
  close(dfd);
}

/* One more record at the end of the journal; `durable`: flushed before it returns. */
static void journal_append(int fd, off_t* end, const char* bytes, size_t n, int durable) {
  if (pwrite(fd, bytes, n, *end) != (ssize_t)n) die("cannot append to the journal");
  *end += (off_t)n;
  if (durable && fdatasync(fd) != 0) die("cannot sync the journal");
}

/* Runs one delegate: `conf` on its stdin, its stdout into `out` (NUL-terminated); exits
 * non-zero loudly. vfork: the parent waits only for the exec, and copies no page tables. With
 * `journal_fd` >= 0 the journal is flushed (and its name with `name`) after the exec and
 * before the config is written: the flush overlaps the delegate's start, as in cnimux. */
static size_t run_delegate(const struct Attachment* a, const char* conf, size_t conf_len, char* out,
                           size_t cap, int journal_fd, int name) {
  static char* envp[128];
  static char ifname_var[32];
  int n = 0;
  for (char** e = environ; *e && n < 126; ++e)
    if (strncmp(*e, "CNI_IFNAME=", 11) != 0) envp[n++] = *e;
  put(ifname_var, sizeof ifname_var, "CNI_IFNAME=%s", a->ifname);
  envp[n++] = ifname_var;
  envp[n] = NULL;
  char bin[kPath];
  put(bin, sizeof bin, "%s/%s", g_bin_dir, a->type);
  char* argv[] = {bin, NULL};

  int in[2], outp[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) die("pipe2 failed");
  pid_t pid = vfork();
  if (pid == 0) {
    dup2(in[0], 0); /* dup2 clears O_CLOEXEC on 0 and 1 only */
    dup2(outp[1], 1);
    execve(bin, argv, envp);
    _exit(127);
  }
  if (pid < 0) die("vfork failed");
  close(in[0]);
  close(outp[1]);
  if (journal_fd >= 0) flush(journal_fd, name);
  /* A config is far smaller than a pipe's buffer, so writing it all first cannot deadlock. */
  write_all(in[1], conf, conf_len, "a delegate's stdin");
  close(in[1]);
  size_t len = read_all(outp[0], out, cap, "a delegate's stdout");
  close(outp[0]);
  int status;
  if (waitpid(pid, &status, 0) != pid) die("waitpid failed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("%s %s failed (status %d): %s", a->type, a->ifname, status, out);
  return len;
}

/* Parses the plan on stdin: directories, then one attachment per line, whose config file is
 * read only when `load_confs` (ADD: DEL runs what the journal holds, as cnimux's DEL does). */
static void read_plan(int load_confs) {
  read_all(0, g_stdin, sizeof g_stdin, "stdin");
  char* save = NULL;
  for (char* line = strtok_r(g_stdin, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char a[kPath], b[kPath], c[kPath];
    int k = sscanf(line, "%511s %511s %511s", a, b, c);
    if (k == 2 && strcmp(a, "cniDir") == 0) {
      put(g_cni_dir, sizeof g_cni_dir, "%s", b);
    } else if (k == 2 && strcmp(a, "binDir") == 0) {
      put(g_bin_dir, sizeof g_bin_dir, "%s", b);
    } else if (k == 3 && !load_confs) {
      continue;
    } else if (k == 3 && g_count < kMaxAttachments) {
      struct Attachment* at = &g_att[g_count++];
      put(at->ifname, sizeof at->ifname, "%s", a);
      put(at->type, sizeof at->type, "%s", b);
      int fd = open(c, O_RDONLY | O_CLOEXEC);
      if (fd < 0) die("cannot open %s", c);
      at->conf = g_confs + g_confs_used;
      at->conf_len = read_all(fd, g_confs + g_confs_used, kBig - g_confs_used, c);
      g_confs_used += at->conf_len + 1;
      close(fd);
    } else {
      die("bad plan line: %s", line);
    }
  }
  if (!g_cni_dir[0] || !g_bin_dir[0]) die("the plan names no cniDir or binDir");
}

static int add(const char* path) {
  if (g_count == 0) die("the plan names no attachment");
  size_t len = 0;
  for (int i = 0; i < g_count; ++i)
    frame(g_record, &len, "conf", g_att[i].ifname, g_att[i].type, g_att[i].conf, g_att[i].conf_len);
  frame(g_record, &len, "start", g_att[0].ifname, "-", "", 0);
  int fd = journal_create(path, g_record, len);
  off_t end = (off_t)len;
  for (int i = 0; i < g_count; ++i) {
    struct Attachment* a = &g_att[i];
    if (i > 0) { /* the previous result and this start, durable before this delegate's config */
      len = 0;
      frame(g_record, &len, "added", g_att[i - 1].ifname, "-", g_att[i - 1].result,
            g_att[i - 1].result_len);
      frame(g_record, &len, "start", a->ifname, "-", "", 0);
      journal_append(fd, &end, g_record, len, 0);
    }
    a->result = g_results + g_results_used;
    a->result_len = run_delegate(a, a->conf, a->conf_len, g_results + g_results_used,
                                 kBig - g_results_used, fd, i == 0);
    g_results_used += a->result_len + 1;
  }
  const struct Attachment* last = &g_att[g_count - 1];
  len = 0;
  frame(g_record, &len, "added", last->ifname, "-", last->result, last->result_len);
  frame(g_record, &len, "complete", "-", "-", "", 0);
  journal_append(fd, &end, g_record, len, 0);
  close(fd);
  fwrite(g_att[0].result, 1, g_att[0].result_len, stdout);
  return 0;
}

/* Rebuilds the attachments (configs and results) from the journal's frames. */
static void read_journal(int fd) {
  size_t n = read_all(fd, g_journal, sizeof g_journal, "the journal");
  for (size_t at = 0; at < n;) {
    char tag[16], ifname[16], type[64];
    size_t plen;
    const char* nl = memchr(g_journal + at, '\n', n - at);
    if (!nl || sscanf(g_journal + at, "%15s %15s %63s %zu", tag, ifname, type, &plen) != 4 ||
        (size_t)(nl + 1 - g_journal) + plen + 1 > n)
      die("torn or bad journal frame at byte %zu", at);
    const char* payload = nl + 1;
    at = (size_t)(payload - g_journal) + plen + 1;
    if (strcmp(tag, "conf") == 0 && g_count < kMaxAttachments) {
      struct Attachment* a = &g_att[g_count++];
      put(a->ifname, sizeof a->ifname, "%s", ifname);
      put(a->type, sizeof a->type, "%s", type);
      a->conf = payload;
      a->conf_len = plen;
    } else if (strcmp(tag, "added") == 0) {
      for (int i = 0; i < g_count; ++i)
        if (strncmp(g_att[i].ifname, ifname, sizeof ifname) == 0) {
          g_att[i].result = payload;
          g_att[i].result_len = plen;
        }
    }
  }
}

/* The config with "prevResult" added as its last key, when there is a result. */
static size_t with_prev_result(const struct Attachment* a) {
  const char* brace = memrchr(a->conf, '}', a->conf_len);
  if (!brace) die("the config of %s is not an object", a->ifname);
  size_t head = (size_t)(brace - a->conf);
  if (!a->result) return (size_t)snprintf(g_conf_buf, kBig, "%.*s", (int)a->conf_len, a->conf);
  int n = snprintf(g_conf_buf, kBig, "%.*s,\"prevResult\":%.*s}", (int)head, a->conf,
                   (int)a->result_len, a->result);
  if (n < 0 || n >= kBig) die("the DEL config of %s is too large", a->ifname);
  return (size_t)n;
}

static int del(const char* path) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return 0; /* nothing was journalled: nothing is owed */
  read_journal(fd);
  char out[kBig];
  for (int i = g_count; i-- > 0;)
    run_delegate(&g_att[i], g_conf_buf, with_prev_result(&g_att[i]), out, sizeof out, -1, 0);
  size_t len = 0;
  frame(g_record, &len, "deleted", "-", "-", "", 0);
  struct stat st;
  if (fstat(fd, &st) != 0) die("cannot stat %s", path);
  off_t end = st.st_size;
  journal_append(fd, &end, g_record, len, 0);
  close(fd);
  return 0;
}

int main(void) {
  const char* verb = getenv("CNI_COMMAND");
  const char* cid = getenv("CNI_CONTAINERID");
  if (!verb || !cid) die("CNI_COMMAND and CNI_CONTAINERID are required");
  const int is_add = strcmp(verb, "ADD") == 0;
  if (!is_add && strcmp(verb, "DEL") != 0) die("unsupported CNI_COMMAND %s", verb);
  read_plan(is_add);
  char path[kPath];
  put(path, sizeof path, "%s/%s.journal", g_cni_dir, cid);
  return is_add ? add(path) : del(path);
}
