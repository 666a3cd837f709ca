/* bench_pingpong_mpi.c - MPI ping-pong of activation rows between ranks 0 and 1 (docs/SCALING.md).
 *
 *   mpirun -np 2 bench_pingpong_mpi [--d 12288] [--rows 1,8,64,512] [--reps 200]
 *
 * For each row count n: a message of n x d float32 (one token's residual row at n = 1, a prefill's at
 * n = 512) sent 0 -> 1 -> 0 --reps times after warm-up; prints the one-way time (half the median round
 * trip) and the bandwidth it implies. Built only with -DMMGPT_MPI=ON. Over shared memory (one machine)
 * this measures the library's overhead; run with `--mca btl tcp,self` for the TCP stack, or across
 * machines for the real link.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long d = 12288, reps = 200;
    const char *rows = "1,8,64,512";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--d")) d = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rows")) rows = argv[i + 1];
        else if (!strcmp(argv[i], "--reps")) reps = atol(argv[i + 1]);
    }
    if (size < 2 || d < 1 || reps < 1) {
        if (rank == 0) fprintf(stderr, "bench_pingpong_mpi: run with mpirun -np 2 (d, reps >= 1)\n");
        MPI_Finalize();
        return 2;
    }
    if (rank == 0) printf("ping-pong rank 0 <-> 1, d %ld float32, %ld round trips each\n", d, reps);
    for (const char *r = rows; *r;) {
        long n = atol(r);
        size_t count = (size_t)n * (size_t)d;
        float *buf = calloc(count ? count : 1, sizeof(float));
        double *rt = malloc(sizeof(double) * (size_t)reps);
        for (long k = -10; k < reps; k++) { /* 10 warm-up round trips */
            if (rank == 0) {
                double t0 = MPI_Wtime();
                MPI_Send(buf, (int)count, MPI_FLOAT, 1, 0, MPI_COMM_WORLD);
                MPI_Recv(buf, (int)count, MPI_FLOAT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                if (k >= 0) rt[k] = MPI_Wtime() - t0;
            } else if (rank == 1) {
                MPI_Recv(buf, (int)count, MPI_FLOAT, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(buf, (int)count, MPI_FLOAT, 0, 0, MPI_COMM_WORLD);
            }
        }
        if (rank == 0) {
            qsort(rt, (size_t)reps, sizeof(double), cmp_d);
            const double one = rt[reps / 2] / 2, bytes = (double)count * 4.0;
            printf("  %5ld rows = %10.0f bytes: one way %9.2f us (median; best %9.2f us), %7.2f GB/s\n", n, bytes,
                   one * 1e6, rt[0] / 2 * 1e6, bytes / one / 1e9);
            fflush(stdout);
        }
        free(buf), free(rt);
        while (*r && *r != ',') r++;
        if (*r == ',') r++;
    }
    MPI_Finalize();
    return 0;
}
