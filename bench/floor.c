/*
 * The floor of the benchmarks: the minimum a C program must do for one step
 * of `scaph-host qemu` on the same synthetic host, measured in the same run.
 * Per step it reads /proc/stat, /proc/uptime, /proc/loadavg, /proc/meminfo,
 * lists the procfs root and reads every /proc/PID/stat, reads every zone's
 * energy_uj, reads each VM's cgroup cpu.stat, and writes each VM's tree:
 * energy_uj of 4 zones, each through a temporary file and rename(2).
 * It parses nothing beyond what it needs and keeps nothing: a floor.
 * With STEP_MS, a step starts every STEP_MS milliseconds, as the daemon's
 * do (between two steps, caches cool: a step after a pause costs more than
 * one run back to back, for any program).
 * Usage: floor ROOT VMS STEPS [STEP_MS] -> prints CPU microseconds per step.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static long read_file(const char *path) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return n;
}

static long long sum;

static void step(const char *root, int vms) {
  char path[4096];
  const char *host[] = {"stat", "uptime", "loadavg", "meminfo"};
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s/proc/%s", root, host[i]);
    sum += read_file(path);
  }
  snprintf(path, sizeof path, "%s/proc", root);
  DIR *d = opendir(path);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "%s/proc/%s/stat", root, e->d_name);
    if (read_file(path) > 0) {
      char *p = strrchr(buf, ')');
      if (p) sum += atoll(p + 2 + 2);
    }
  }
  closedir(d);
  const char *zones[] = {"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2"};
  for (int z = 0; z < 4; z++) {
    snprintf(path, sizeof path, "%s/powercap/%s/energy_uj", root, zones[z]);
    if (read_file(path) > 0) sum += atoll(buf);
  }
  for (int v = 0; v < vms; v++) {
    char name[64];
    snprintf(name, sizeof name, "vm-%d", v);
    /* the cgroup of a libvirt VM: machine-qemu\x2dN\x2dNAME.scope */
    char scope[256];
    snprintf(scope, sizeof scope, "machine-qemu\\x2d%d\\x2dvm\\x2d%d.scope", v + 1, v);
    snprintf(path, sizeof path, "%s/cgroup/machine.slice/%s/cpu.stat", root, scope);
    if (read_file(path) > 0) sum += atoll(buf + 11);
    for (int z = 0; z < 4; z++) {
      char dir[4096], tmp[4200], dst[4200];
      snprintf(dir, sizeof dir, "%s/base/%s/%s", root, name, zones[z]);
      snprintf(tmp, sizeof tmp, "%s/.energy_uj.scaph-tmp", dir);
      snprintf(dst, sizeof dst, "%s/energy_uj", dir);
      int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
      if (fd < 0) continue;
      int n = snprintf(buf, sizeof buf, "%lld\n", sum % 262143328850LL);
      if (write(fd, buf, n) != n) perror("write");
      close(fd);
      rename(tmp, dst);
    }
  }
}

static double cpu_us(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_sec * 1e6 + r.ru_stime.tv_usec;
}

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: floor ROOT VMS STEPS [STEP_MS]\n");
    return 2;
  }
  const char *root = argv[1];
  int vms = atoi(argv[2]), steps = atoi(argv[3]);
  double step_ms = argc == 5 ? atof(argv[4]) : 0;
  char path[4096];
  for (int v = 0; v < vms; v++) {
    const char *zones[] = {"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:0:1", "intel-rapl:0:2"};
    for (int z = 0; z < 4; z++) {
      snprintf(path, sizeof path, "mkdir -p '%s/base/vm-%d/%s'", root, v, zones[z]);
      if (system(path) != 0) return 1;
    }
  }
  step(root, vms); /* warm the caches, as the daemon's first steps do */
  double t0 = cpu_us();
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (int i = 0; i < steps; i++) {
    if (step_ms > 0) {
      long ns = next.tv_nsec + (long)(step_ms * 1e6);
      next.tv_sec += ns / 1000000000L;
      next.tv_nsec = ns % 1000000000L;
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    step(root, vms);
  }
  printf("%.1f\n", (cpu_us() - t0) / steps);
  return sum == 42 ? 1 : 0;
}
