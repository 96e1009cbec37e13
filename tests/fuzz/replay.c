/*
 * Replays a fuzz harness's corpus without libFuzzer, so that `make check`
 * runs every saved input (under the sanitizers in the ASan build): each
 * argument is a file or a directory of files, given to
 * LLVMFuzzerTestOneInput one at a time. A crash or sanitizer report fails
 * the test; the harnesses abort on any property they check.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX (1u << 20) /* corpus files are small; bigger ones are skipped */

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;
    if (!f)
        return -1;
    buf = malloc(REPLAY_MAX);
    if (!buf) {
        fclose(f);
        return -1;
    }
    n = fread(buf, 1, REPLAY_MAX, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int replay_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;
    if (!d)
        return -1;
    while ((de = readdir(d)) != NULL && rc == 0) {
        char path[4096];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = replay_file(path);
            (*count)++;
        }
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int rc = stat(argv[i], &st) != 0         ? -1
                 : S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count)
                                       : (count++, replay_file(argv[i]));
        if (rc != 0) {
            fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            return 1;
        }
    }
    printf("replay: %zu inputs\n", count);
    return 0;
}
