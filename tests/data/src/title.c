/*
 * title.c - a victim that rewrites its process title the way real servers do,
 * after recording what the kernel's mm says about its initial stack.
 *
 * Usage: title MODE [ARGS...]   (run with cwd = a writable directory)
 *
 * Before touching anything it writes MODE.kernel in its cwd: the kernel's
 * start_stack (/proc/self/stat field 28) and arg_start, arg_end, env_start,
 * env_end (fields 48-51), argc, envc and AT_EXECFN, as key=value lines. Then
 * it rewrites its title by MODE, resets SIGQUIT and sleeps until killed:
 *
 *   intact     nothing (the baseline)
 *   redis      Redis's setproctitle (spt_init): argv[1..] copied to the heap
 *              and repointed, environ rebuilt on the heap (clearenv+setenv;
 *              the stack's envp array keeps its pointers), the whole string
 *              area zeroed and the title written at argv[0]
 *   nginx      nginx's ngx_init_setproctitle + ngx_setproctitle: the env
 *              strings copied to one heap block and the stack's envp entries
 *              (environ) repointed there; argv[1] = NULL; the title written
 *              over argv[0] and the rest of the area zeroed
 *   ps_status  PostgreSQL's ps_status.c (and python3-setproctitle): argv and
 *              environ copied to the heap, environ repointed to the copy, the
 *              area clobbered with the title and argv[1..] pointed at the NUL
 *              at the end of the area
 *   argv0      a longer title strcpy'd over argv[0] and on into argv[1..]'s
 *              strings; no pointer changed
 *   argv1null  argv[1] = NULL and a short title over argv[0]
 *   zeroed     every argv and env string zeroed (pointers kept), environ
 *              moved to the heap first
 *   wiped      zeroed, and the argv and envp pointer arrays zeroed too: only
 *              argc, the auxv and AT_EXECFN's string survive
 *
 * Build: gcc -static -O1 -g -o title title.c
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

static int envc_of(char **envp) {
    int n = 0;
    while (envp[n]) n++;
    return n;
}

/* Fields 28 and 48-51 of /proc/self/stat into MODE.kernel. */
static int record_kernel_facts(const char *mode, int argc, int envc) {
    char stat[4096], path[256];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f || !fgets(stat, sizeof stat, f)) return -1;
    fclose(f);
    /* comm (field 2) may hold spaces: count fields after its closing paren. */
    char *p = strrchr(stat, ')');
    if (!p) return -1;
    unsigned long long v[52] = {0};
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok && field < 51; tok = strtok(NULL, " "))
        v[++field] = strtoull(tok, NULL, 10);
    snprintf(path, sizeof path, "%s.kernel", mode);
    FILE *out = fopen(path, "w");
    if (!out) return -1;
    fprintf(out, "start_stack=0x%llx\narg_start=0x%llx\narg_end=0x%llx\nenv_start=0x%llx\nenv_end=0x%llx\n",
            v[28], v[48], v[49], v[50], v[51]);
    fprintf(out, "argc=%d\nenvc=%d\nexecfn=0x%lx\n", argc, envc, getauxval(AT_EXECFN));
    return fclose(out);
}

/* End of the contiguous argv+env string area that starts at argv[0]. */
static char *area_end(int argc, char **argv, char **envp) {
    char *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc; i++)
        if (argv[i] == end) end += strlen(end) + 1;
    for (int i = 0; envp[i]; i++)
        if (envp[i] == end) end += strlen(end) + 1;
    return end;
}

/* environ rebuilt on the heap by clearenv + setenv (the stack array untouched). */
static void env_to_heap_by_setenv(char **envp, int envc) {
    char **copy = malloc((envc + 1) * sizeof *copy);
    for (int i = 0; i <= envc; i++) copy[i] = envp[i] ? strdup(envp[i]) : NULL;
    clearenv();
    for (int i = 0; copy[i]; i++) {
        char *eq = strchr(copy[i], '=');
        if (!eq) continue;
        *eq = '\0';
        setenv(copy[i], eq + 1, 1);
    }
}

static void title_redis(int argc, char **argv, char **envp, int envc) {
    char *base = argv[0], *end = area_end(argc, argv, envp);
    for (int i = 1; i < argc; i++) argv[i] = strdup(argv[i]);
    env_to_heap_by_setenv(envp, envc);
    memset(base, 0, (size_t)(end - base));
    snprintf(base, (size_t)(end - base), "redis-like *:6379");
}

static void title_nginx(int argc, char **argv, char **envp) {
    char *end = area_end(argc, argv, envp);
    size_t size = 0;
    for (int i = 0; envp[i]; i++) size += strlen(envp[i]) + 1;
    char *p = malloc(size);
    for (int i = 0; envp[i]; i++) {
        size_t n = strlen(envp[i]) + 1;
        memcpy(p, envp[i], n);
        envp[i] = p; /* environ is the stack's envp array */
        p += n;
    }
    argv[1] = NULL;
    const char *title = "nginx-like: master process";
    size_t n = strlen(title);
    memcpy(argv[0], title, n);
    memset(argv[0] + n, 0, (size_t)(end - argv[0]) - n);
}

static void title_ps_status(int argc, char **argv, char **envp, int envc) {
    char *end = area_end(argc, argv, envp);
    char **new_environ = malloc((envc + 1) * sizeof *new_environ);
    for (int i = 0; i < envc; i++) new_environ[i] = strdup(envp[i]);
    new_environ[envc] = NULL;
    environ = new_environ;
    char **new_argv = malloc((argc + 1) * sizeof *new_argv);
    for (int i = 0; i < argc; i++) new_argv[i] = strdup(argv[i]);
    new_argv[argc] = NULL;
    for (int i = 1; i < argc; i++) argv[i] = end - 1; /* the area's last NUL */
    size_t len = (size_t)(end - argv[0]);
    memset(argv[0], 0, len);
    snprintf(argv[0], len, "postgres-like: checkpointer");
}

static void title_argv0(int argc, char **argv, char **envp) {
    char *end = area_end(argc, argv, envp);
    const char *title = "argv0-overwrite: a title longer than argv[0]";
    size_t room = (size_t)(end - argv[0]) - 1;
    size_t n = strlen(title) < room ? strlen(title) : room;
    memcpy(argv[0], title, n);
    argv[0][n] = '\0';
}

static void zero_strings(int argc, char **argv, char **envp, int envc) {
    char *end = area_end(argc, argv, envp);
    env_to_heap_by_setenv(envp, envc);
    memset(argv[0], 0, (size_t)(end - argv[0]));
}

int main(int argc, char **argv, char **envp) {
    if (argc < 2) return 2;
    const char *mode = strdup(argv[1]);
    const int envc = envc_of(envp);
    if (record_kernel_facts(mode, argc, envc) != 0) return 3;
    if (!strcmp(mode, "redis")) title_redis(argc, argv, envp, envc);
    else if (!strcmp(mode, "nginx")) title_nginx(argc, argv, envp);
    else if (!strcmp(mode, "ps_status")) title_ps_status(argc, argv, envp, envc);
    else if (!strcmp(mode, "argv0")) title_argv0(argc, argv, envp);
    else if (!strcmp(mode, "argv1null")) {
        argv[1] = NULL;
        strcpy(argv[0], "t1");
    } else if (!strcmp(mode, "zeroed")) zero_strings(argc, argv, envp, envc);
    else if (!strcmp(mode, "wiped")) {
        zero_strings(argc, argv, envp, envc);
        memset(argv, 0, (size_t)(argc + 1 + envc + 1) * sizeof *argv);
    } else if (strcmp(mode, "intact")) return 4;
    signal(SIGQUIT, SIG_DFL);
    for (;;) pause();
}
